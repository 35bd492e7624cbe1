package kraken

import (
	"errors"

	"github.com/feedkeeper/feedkeeper/fixed"
)

// errNumber: a JSON number this package cannot read exactly.
var errNumber = errors.New("want a JSON number")

// maxShift bounds an exponent's effect: beyond it a non-zero number has
// no representation at a scale of at most fixed.MaxScale in an int64.
const maxShift = 40

// ParseNumber parses the JSON number b ("45283.5", "1e-08", "-2.5E+3")
// into a mantissa at scale, exactly and without allocating: the exponent
// moves the decimal point in the text, never through float64 (Kraken's
// v2 sends prices and quantities as JSON numbers, "1e-08" among them:
// "Instruments" example; its checksum guide asks for a decimal decoder).
// Errors are those of fixed.Parse (fixed.ErrPrecision for a digit beyond
// scale) or errNumber for text that is not a JSON number.
func ParseNumber(b []byte, scale uint8) (int64, error) {
	n := len(b)
	i := 0
	neg := false
	if i < n && b[i] == '-' {
		neg, i = true, 1
	}
	var digits [80]byte
	nd := 0
	point := -1 // digits before the point
	intStart := i
	for i < n && b[i] >= '0' && b[i] <= '9' {
		if nd < len(digits) {
			digits[nd] = b[i]
		}
		nd++
		i++
	}
	if i == intStart || (b[intStart] == '0' && i-intStart > 1) {
		return 0, errNumber
	}
	point = nd
	if i < n && b[i] == '.' {
		i++
		fs := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			if nd < len(digits) {
				digits[nd] = b[i]
			}
			nd++
			i++
		}
		if i == fs {
			return 0, errNumber
		}
	}
	if nd > len(digits)-maxShift-4 {
		return 0, fixed.ErrRange
	}
	exp := 0
	hasExp := false
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		hasExp = true
		i++
		eneg := false
		if i < n && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			if exp < 1000 {
				exp = exp*10 + int(b[i]-'0')
			}
			i++
		}
		if i == es {
			return 0, errNumber
		}
		if eneg {
			exp = -exp
		}
	}
	if i != n {
		return 0, errNumber
	}
	if !hasExp && !neg {
		return fixed.Parse(b, scale) // the common form, as sent
	}
	zero := true
	for _, c := range digits[:nd] {
		if c != '0' {
			zero = false
			break
		}
	}
	if zero {
		return 0, nil
	}
	if exp > maxShift || exp < -maxShift {
		if exp > 0 {
			return 0, fixed.ErrRange
		}
		return 0, fixed.ErrPrecision
	}
	point += exp
	var out [160]byte
	k := 0
	if neg {
		out[k] = '-'
		k++
	}
	switch {
	case point <= 0:
		out[k], out[k+1] = '0', '.'
		k += 2
		for range -point {
			out[k] = '0'
			k++
		}
		k += copy(out[k:], digits[:nd])
	case point >= nd:
		k += copy(out[k:], digits[:nd])
		for range point - nd {
			out[k] = '0'
			k++
		}
	default:
		k += copy(out[k:], digits[:point])
		out[k] = '.'
		k++
		k += copy(out[k:], digits[point:nd])
	}
	return fixed.Parse(out[:k], scale)
}
