// Package fixed implements fixed-point decimal numbers for prices and
// quantities: an int64 mantissa M and a scale S, the number of decimal
// places, so that the value is M / 10^S. A venue gives each symbol a price
// scale and a quantity scale (from its tick and step sizes); every price of
// that symbol is then a plain int64 at that scale, compared and added as an
// integer.
//
// Every function here is pure, allocation-free and safe for concurrent use.
// Mantissas produced by Parse, Rescale and Mul have a magnitude of at most
// math.MaxInt64 (math.MinInt64 is never produced, so negation is safe).
package fixed

import (
	"errors"
	"math"
	"math/bits"
)

// MaxScale is the largest scale supported: 18 decimal places.
const MaxScale = 18

// Errors returned by this package. They are returned bare, without
// wrapping, so that the hot path does not allocate; callers add context.
var (
	// ErrSyntax: the text is not a decimal number of the form
	// -?[0-9]+(\.[0-9]+)? (no sign "+", exponent, spaces or bare ".").
	ErrSyntax = errors.New("fixed: invalid syntax")
	// ErrRange: the value does not fit in an int64 mantissa at the scale.
	ErrRange = errors.New("fixed: value out of range")
	// ErrPrecision: the value has non-zero digits beyond the scale, so it
	// cannot be represented exactly.
	ErrPrecision = errors.New("fixed: more decimal places than the scale")
	// ErrScale: a scale argument is larger than MaxScale.
	ErrScale = errors.New("fixed: scale out of range")
)

var pow10 = [MaxScale + 1]uint64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
}

// Pow10 returns 10^s as an int64; s must be at most MaxScale, larger
// values return 0.
func Pow10(s uint8) int64 {
	if s > MaxScale {
		return 0
	}
	return int64(pow10[s])
}

// Dec is a decimal value M / 10^S. The zero value is 0. S must be at most
// MaxScale for the functions of this package to give exact results.
type Dec struct {
	M int64 // mantissa
	S uint8 // scale: decimal places
}

// String formats d with exactly S decimal places, as Append does.
func (d Dec) String() string {
	var buf [48]byte
	return string(Append(buf[:0], d.M, d.S))
}

// Append appends the text of d to dst, as the package function Append.
func (d Dec) Append(dst []byte) []byte { return Append(dst, d.M, d.S) }

// Rescale returns d at scale s; see the package function Rescale.
func (d Dec) Rescale(s uint8) (Dec, error) {
	m, err := Rescale(d.M, d.S, s)
	if err != nil {
		return Dec{}, err
	}
	return Dec{M: m, S: s}, nil
}

// Cmp compares the values of d and e, whatever their scales: -1 when d < e,
// 0 when they are equal, +1 when d > e.
func (d Dec) Cmp(e Dec) int {
	switch {
	case d.M < 0 && e.M >= 0:
		return -1
	case d.M >= 0 && e.M < 0:
		return 1
	}
	// Same sign: compare magnitudes, then flip for negatives.
	c := cmpMag(absU(d.M), d.S, absU(e.M), e.S)
	if d.M < 0 {
		return -c
	}
	return c
}

// cmpMag compares a/10^as with b/10^bs for non-negative a and b.
func cmpMag(a uint64, as uint8, b uint64, bs uint8) int {
	if as < bs {
		return -cmpMag(b, bs, a, as)
	}
	// Scale b up by 10^(as-bs) in 128 bits.
	d := as - bs
	var hi, lo uint64
	if d <= MaxScale {
		hi, lo = bits.Mul64(b, pow10[d])
	} else if b != 0 {
		return -1 // b * 10^19 or more exceeds any uint64 a
	}
	switch {
	case hi != 0 || lo > a:
		return -1
	case lo < a:
		return 1
	}
	return 0
}

func absU(m int64) uint64 {
	if m < 0 {
		return uint64(-m) // wraps correctly for math.MinInt64
	}
	return uint64(m)
}

// Parse parses the decimal text b (a string or a byte slice) straight into
// a mantissa at the given scale, without allocating. The text must match
// -?[0-9]+(\.[0-9]+)?; leading zeros and trailing fractional zeros beyond
// the scale are accepted ("60000.01000000" at scale 2 is 6000001).
//
// Errors, in this order of precedence: ErrScale when scale > MaxScale,
// ErrSyntax for anything else than the form above, ErrPrecision when a
// non-zero digit lies beyond the scale, ErrRange when the magnitude of the
// mantissa would exceed math.MaxInt64.
func Parse[T ~string | ~[]byte](b T, scale uint8) (int64, error) {
	if scale > MaxScale {
		return 0, ErrScale
	}
	const cut = math.MaxInt64 / 10 // m*10+9 still fits in a uint64 past this
	n := len(b)
	i := 0
	neg := false
	if n > 0 && b[0] == '-' {
		neg = true
		i = 1
	}
	var m uint64
	ovf := false
	start := i
	for ; i < n; i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		if m > cut {
			ovf = true
		} else {
			m = m*10 + uint64(c)
		}
	}
	if i == start {
		return 0, ErrSyntax
	}
	frac := 0
	inexact := false
	if i < n {
		if b[i] != '.' {
			return 0, ErrSyntax
		}
		i++
		fs := i
		for ; i < n; i++ {
			c := b[i] - '0'
			if c > 9 {
				return 0, ErrSyntax
			}
			if i-fs < int(scale) {
				if m > cut {
					ovf = true
				} else {
					m = m*10 + uint64(c)
				}
			} else if c != 0 {
				inexact = true
			}
		}
		frac = i - fs
		if frac == 0 {
			return 0, ErrSyntax
		}
		if frac > int(scale) {
			frac = int(scale)
		}
	}
	if inexact {
		return 0, ErrPrecision
	}
	if ovf {
		return 0, ErrRange
	}
	if frac < int(scale) {
		hi, lo := bits.Mul64(m, pow10[int(scale)-frac])
		if hi != 0 {
			return 0, ErrRange
		}
		m = lo
	}
	if m > math.MaxInt64 {
		return 0, ErrRange
	}
	if neg {
		return -int64(m), nil
	}
	return int64(m), nil
}

// ScaleOf returns the number of significant decimal places of a
// non-negative decimal text, ignoring trailing zeros: "0.01000000" gives 2,
// "1.00000000" and "10" give 0. Use it on tick and step sizes to find a
// symbol's price and quantity scales. It returns ErrSyntax for text that
// Parse would reject or that is negative, and ErrScale when more than
// MaxScale places are significant.
func ScaleOf[T ~string | ~[]byte](s T) (uint8, error) {
	n := len(s)
	i := 0
	for i < n && s[i]-'0' <= 9 {
		i++
	}
	if i == 0 {
		return 0, ErrSyntax
	}
	if i == n {
		return 0, nil
	}
	if s[i] != '.' || i+1 == n {
		return 0, ErrSyntax
	}
	last := i // index of the last non-zero fractional digit, or the point
	for j := i + 1; j < n; j++ {
		c := s[j] - '0'
		if c > 9 {
			return 0, ErrSyntax
		}
		if c != 0 {
			last = j
		}
	}
	if last-i > MaxScale {
		return 0, ErrScale
	}
	return uint8(last - i), nil
}

// Append appends the decimal text of m / 10^scale to dst with exactly
// scale decimal places ("60000.01" for 6000001 at scale 2, "-0.05" for -5
// at scale 2, "7" for 7 at scale 0). Parse(Append(nil, m, s), s) == m for
// every m except math.MinInt64. Any scale is accepted here.
func Append(dst []byte, m int64, scale uint8) []byte {
	var digits [20]byte
	u := absU(m)
	k := len(digits)
	for {
		k--
		digits[k] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	nd := len(digits) - k
	if m < 0 {
		dst = append(dst, '-')
	}
	s := int(scale)
	switch {
	case s == 0:
		return append(dst, digits[k:]...)
	case nd > s:
		dst = append(dst, digits[k:len(digits)-s]...)
		dst = append(dst, '.')
		return append(dst, digits[len(digits)-s:]...)
	}
	dst = append(dst, '0', '.')
	for z := s - nd; z > 0; z-- {
		dst = append(dst, '0')
	}
	return append(dst, digits[k:]...)
}

// Rescale converts the mantissa m from scale from to scale to. Scaling up
// returns ErrRange if the result overflows; scaling down returns
// ErrPrecision if non-zero digits would be dropped (it never rounds).
// Scales above MaxScale return ErrScale.
func Rescale(m int64, from, to uint8) (int64, error) {
	if from > MaxScale || to > MaxScale {
		return 0, ErrScale
	}
	switch {
	case to > from:
		hi, lo := bits.Mul64(absU(m), pow10[to-from])
		if hi != 0 || lo > math.MaxInt64 {
			return 0, ErrRange
		}
		if m < 0 {
			return -int64(lo), nil
		}
		return int64(lo), nil
	case to < from:
		p := int64(pow10[from-to])
		if m%p != 0 {
			return 0, ErrPrecision
		}
		return m / p, nil
	}
	if m == math.MinInt64 {
		return 0, ErrRange
	}
	return m, nil
}

// Mul returns the exact product a × b. Its scale is a.S + b.S, made smaller
// only as far as needed to fit (by dropping trailing zeros of the product).
// It returns ErrPrecision when the product needs more than MaxScale
// decimal places and ErrRange when its mantissa cannot fit in an int64.
func Mul(a, b Dec) (Dec, error) {
	if a.S > MaxScale || b.S > MaxScale {
		return Dec{}, ErrScale
	}
	hi, lo := bits.Mul64(absU(a.M), absU(b.M))
	s := int(a.S) + int(b.S)
	if hi == 0 && lo == 0 {
		return Dec{S: uint8(min(s, MaxScale))}, nil
	}
	for s > 0 && (hi != 0 || lo > math.MaxInt64 || s > MaxScale) {
		qhi, rhi := hi/10, hi%10
		qlo, r := bits.Div64(rhi, lo, 10)
		if r != 0 {
			break
		}
		hi, lo = qhi, qlo
		s--
	}
	if s > MaxScale {
		return Dec{}, ErrPrecision
	}
	if hi != 0 || lo > math.MaxInt64 {
		return Dec{}, ErrRange
	}
	m := int64(lo)
	if (a.M < 0) != (b.M < 0) {
		m = -m
	}
	return Dec{M: m, S: uint8(s)}, nil
}
