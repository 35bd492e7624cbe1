package kraken

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/fixed"
)

// reference parses a JSON number through math/big, exactly: the mantissa
// at scale, or ok false when it has digits beyond scale or does not fit.
func reference(s string, scale uint8) (m int64, ok bool) {
	if zeroMantissa(s) && jsonNumber(s) {
		return 0, true // big.Rat refuses 0e10000000000000000000
	}
	r, good := new(big.Rat).SetString(s)
	if !good {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

func TestParseNumber(t *testing.T) {
	for _, c := range []struct {
		in    string
		scale uint8
		want  int64
		err   error
	}{
		{"45283.5", 1, 452835, nil},
		{"0.00100000", 8, 100000, nil},
		{"1e-08", 8, 1, nil},
		{"1E-8", 8, 1, nil},
		{"2.5e+3", 0, 2500, nil},
		{"-2.5e3", 1, -25000, nil},
		{"0e400", 2, 0, nil},
		{"105944.20", 1, 1059442, nil},
		{"123456789.123456789", 9, 123456789123456789, nil},
		{"1e-09", 8, 0, fixed.ErrPrecision},
		{"1.05", 1, 0, fixed.ErrPrecision},
		{"1e400", 2, 0, fixed.ErrRange},
		{"99999999999999999999", 0, 0, fixed.ErrRange},
		{"1.", 1, 0, errNumber},
		{"01", 1, 0, errNumber},
		{".5", 1, 0, errNumber},
		{"1e", 1, 0, errNumber},
		{`"1"`, 1, 0, errNumber},
		{"", 1, 0, errNumber},
	} {
		got, err := ParseNumber([]byte(c.in), c.scale)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("ParseNumber(%q, %d) = %d, %v; want %d, %v", c.in, c.scale, got, err, c.want, c.err)
		}
	}
}

// FuzzParseNumber holds ParseNumber against math/big: whatever it
// accepts, big.Rat reads as the same value; what big reads exactly in
// range (as a JSON number), it accepts.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"45283.5", "1e-08", "0.00100000", "-2.5E+3", "0", "1e400", "123456789.123456789", "5e-1"} {
		f.Add(s, uint8(8))
	}
	f.Fuzz(func(t *testing.T, s string, scale uint8) {
		scale %= fixed.MaxScale + 1
		got, err := ParseNumber([]byte(s), scale)
		want, ok := reference(s, scale)
		if err == nil {
			if !ok || got != want {
				t.Fatalf("ParseNumber(%q, %d) = %d; big says %d, %v", s, scale, got, want, ok)
			}
			return
		}
		if ok && jsonNumber(s) && len(s) < 30 && errors.Is(err, errNumber) {
			t.Fatalf("ParseNumber(%q, %d): %v; big reads %d", s, scale, err, want)
		}
	})
}

// jsonNumber reports whether s has JSON's number form.
func jsonNumber(s string) bool {
	i, n := 0, len(s)
	if i < n && s[i] == '-' {
		i++
	}
	if i == n {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < n && s[i] == '.' {
		i++
		j := i
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == n
}

// zeroMantissa reports whether the digits of s before any exponent are
// all zeros.
func zeroMantissa(s string) bool {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	return strings.Trim(s, "-0.") == "" && strings.ContainsAny(s, "0")
}
