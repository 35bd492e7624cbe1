package binance

import "github.com/feedkeeper/feedkeeper/feed"

// The scanner of Binance's JSON wire format, for the decoders of Binance's
// other markets (USD-M futures) that send the same kind of frames: the
// functions the spot decoder is built on, none of which allocates unless it
// fails. Every error they return matches ErrMalformed, or is a plain cause
// to wrap with the key it was read for (FieldError).

// Span is the content of a JSON string in a frame, frame[Start:End], with
// Esc set when it holds escapes.
type Span struct {
	Start, End int
	Esc        bool
}

// Raw returns the span's bytes as written (escapes not decoded).
func (s Span) Raw(frame []byte) []byte { return frame[s.Start:s.End] }

// Text returns the span's content with escapes decoded: frame's own bytes
// when it has none, else appended to buf[:0].
func (s Span) Text(frame, buf []byte) []byte {
	if !s.Esc {
		return frame[s.Start:s.End]
	}
	return unescape(buf[:0], frame[s.Start:s.End])
}

// SkipWS returns the index of the first byte of frame at or after i that
// is not JSON whitespace.
func SkipWS(frame []byte, i int) int { return skipWS(frame, i) }

// StringAt reads the JSON string at frame[i] (its opening quote) and
// returns its span and the index after its closing quote.
func StringAt(frame []byte, i int) (Span, int, error) {
	sp, next, err := stringSpan(frame, i)
	return Span{sp.start, sp.end, sp.esc}, next, err
}

// IntAt reads the JSON integer at frame[i] (no fraction or exponent) that
// fits an int64, and returns the index after it.
func IntAt(frame []byte, i int) (int64, int, error) { return parseInt(frame, i) }

// BoolAt reads true or false at frame[i].
func BoolAt(frame []byte, i int) (bool, int, error) { return parseBool(frame, i) }

// SkipValue checks the JSON value at frame[i] and returns the index after
// it; depth is the nesting level of the container it is in (1 in the
// top-level object), limited as encoding/json limits it.
func SkipValue(frame []byte, i, depth int) (int, error) { return skipValue(frame, i, depth) }

// Decimal parses the decimal string sp at scale. A value with more
// decimals than scale returns a *ScaleError for sym (price says which
// kind of value it is), which matches fixed.ErrPrecision.
func Decimal(frame []byte, sp Span, sym Symbol, price bool) (int64, error) {
	s := strSpan{sp.Start, sp.End, sp.Esc}
	scale := sym.QtyScale
	if price {
		scale = sym.PriceScale
	}
	m, err := parseDecimal(frame, s, scale)
	if err != nil {
		return 0, scaleErr(frame, s, sym, price, err)
	}
	return m, nil
}

// Quantity is Decimal for a quantity Binance may cap at the largest value
// its precision allows (see Event.Capped): such a quantity is truncated or
// saturated, and *capped set.
func Quantity(frame []byte, sp Span, sym Symbol, capped *bool) (int64, error) {
	s := strSpan{sp.Start, sp.End, sp.Esc}
	m, err := parseQty(frame, s, sym.QtyScale, capped)
	if err != nil {
		return 0, scaleErr(frame, s, sym, false, err)
	}
	return m, nil
}

// Levels appends the levels of the array at frame[i],
// [["price","qty"],…], at sym's scales to dst and returns the index after
// it. depth is the nesting level of the object holding the array.
func Levels(frame []byte, i int, sym Symbol, dst []feed.Level, depth int, capped *bool) ([]feed.Level, int, error) {
	return parseLevels(frame, i, sym, dst, depth, capped)
}

// FieldError wraps err, met reading the value of key, as ErrMalformed
// (unchanged when it already is).
func FieldError(key string, err error) error { return fieldErr(key, err) }

// Malformed returns an ErrMalformed saying what is wrong at offset off.
func Malformed(off int, what string) error { return malformed(off, what) }

// Object walks the members of one JSON object of a frame.
type Object struct {
	b []byte
	i int  // on entry just after '{'; after Next, at the member's value
	n bool // a member was read: ',' or '}' comes next
}

// OpenObject starts walking the object at frame[i] ('{').
func OpenObject(frame []byte, i int) (Object, error) {
	if i >= len(frame) || frame[i] != '{' {
		return Object{}, malformed(i, "expected an object")
	}
	return Object{b: frame, i: i + 1}, nil
}

// Next reads the next key and leaves Pos at its value, which the caller
// reads (or skips with SkipValue) and then hands back with SetPos. At the
// end of the object it returns done and Pos is after the '}'.
func (o *Object) Next() (key Span, done bool, err error) {
	b := o.b
	i := skipWS(b, o.i)
	if i >= len(b) {
		return Span{}, false, malformed(i, "unterminated object")
	}
	if o.n {
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			o.i = i + 1
			return Span{}, true, nil
		default:
			return Span{}, false, malformed(i, "expected ',' or '}'")
		}
	} else if b[i] == '}' {
		o.i = i + 1
		return Span{}, true, nil
	}
	if i >= len(b) || b[i] != '"' {
		return Span{}, false, malformed(i, "expected a key")
	}
	if i+2 < len(b) && b[i+2] == '"' && plain[b[i+1]] {
		key = Span{i + 1, i + 2, false} // the common one-letter key
	} else {
		end, esc, err := scanString(b, i)
		if err != nil {
			return Span{}, false, err
		}
		key = Span{i + 1, end, esc}
	}
	end := key.End
	i = skipWS(b, end+1)
	if i >= len(b) || b[i] != ':' {
		return Span{}, false, malformed(i, "expected ':'")
	}
	o.i = skipWS(b, i+1)
	o.n = true
	return key, false, nil
}

// Pos is the index the walk is at.
func (o *Object) Pos() int { return o.i }

// SetPos moves the walk to i, after the value of the last key read.
func (o *Object) SetPos(i int) { o.i = i }
