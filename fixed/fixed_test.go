package fixed

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in    string
		scale uint8
		want  int64
		err   error
	}{
		{"60000.01000000", 2, 6000001, nil},
		{"60000.01", 2, 6000001, nil},
		{"60000.1", 2, 6000010, nil},
		{"60000", 2, 6000000, nil},
		{"0.00100000", 8, 100000, nil},
		{"0", 0, 0, nil},
		{"0.0", 0, 0, nil},
		{"-0.00", 2, 0, nil},
		{"-1.5", 1, -15, nil},
		{"007.50", 2, 750, nil},
		{"9223372036854775807", 0, math.MaxInt64, nil},
		{"-9223372036854775807", 0, -math.MaxInt64, nil},
		{"9.223372036854775807", 18, math.MaxInt64, nil},
		{"0.000000000000000001", 18, 1, nil},
		{"1.000000000000000000000000000000", 0, 1, nil},
		{"00000000000000000000000000000000001", 3, 1000, nil},

		{"60000.015", 2, 0, ErrPrecision},
		{"0.000000001", 8, 0, ErrPrecision},
		{"9223372036854775808", 0, 0, ErrRange},
		{"-9223372036854775808", 0, 0, ErrRange},
		{"92233720368547758070", 0, 0, ErrRange},
		{"9223372036854775807", 1, 0, ErrRange},
		{"10", 18, 0, ErrRange},
		{"99999999999999999999999.5", 0, 0, ErrPrecision},
		{"1", 19, 0, ErrScale},

		{"", 2, 0, ErrSyntax},
		{"-", 2, 0, ErrSyntax},
		{".5", 2, 0, ErrSyntax},
		{"5.", 2, 0, ErrSyntax},
		{"+5", 2, 0, ErrSyntax},
		{"1e3", 2, 0, ErrSyntax},
		{" 1", 2, 0, ErrSyntax},
		{"1 ", 2, 0, ErrSyntax},
		{"1.2.3", 2, 0, ErrSyntax},
		{"--1", 2, 0, ErrSyntax},
		{"1,5", 2, 0, ErrSyntax},
		{"1.05x", 1, 0, ErrSyntax},
		{"99999999999999999999x", 0, 0, ErrSyntax},
		{"NaN", 2, 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.scale)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("Parse(%q, %d) = %d, %v; want %d, %v", tt.in, tt.scale, got, err, tt.want, tt.err)
		}
		gotB, errB := Parse([]byte(tt.in), tt.scale)
		if gotB != got || errB != err {
			t.Errorf("Parse([]byte(%q), %d) = %d, %v; string form gave %d, %v", tt.in, tt.scale, gotB, errB, got, err)
		}
	}
}

func TestScaleOf(t *testing.T) {
	tests := []struct {
		in   string
		want uint8
		err  error
	}{
		{"0.01000000", 2, nil},
		{"0.00000001", 8, nil},
		{"1.00000000", 0, nil},
		{"10", 0, nil},
		{"0", 0, nil},
		{"0.00000000", 0, nil},
		{"0.000000000000000001", 18, nil},
		{"0.0000000000000000001", 0, ErrScale},
		{"", 0, ErrSyntax},
		{"-0.01", 0, ErrSyntax},
		{".01", 0, ErrSyntax},
		{"1.", 0, ErrSyntax},
		{"0.0a", 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := ScaleOf(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("ScaleOf(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		m     int64
		scale uint8
		want  string
	}{
		{6000001, 2, "60000.01"},
		{-5, 2, "-0.05"},
		{7, 0, "7"},
		{0, 0, "0"},
		{0, 3, "0.000"},
		{100000, 8, "0.00100000"},
		{math.MaxInt64, 0, "9223372036854775807"},
		{math.MinInt64, 0, "-9223372036854775808"},
		{math.MinInt64, 18, "-9.223372036854775808"},
		{1, 25, "0.0000000000000000000000001"},
		{123, 3, "0.123"},
	}
	for _, tt := range tests {
		if got := string(Append([]byte("x="), tt.m, tt.scale)); got != "x="+tt.want {
			t.Errorf("Append(%d, %d) = %q; want %q", tt.m, tt.scale, got, "x="+tt.want)
		}
		if got := (Dec{M: tt.m, S: tt.scale}).String(); got != tt.want {
			t.Errorf("Dec{%d, %d}.String() = %q; want %q", tt.m, tt.scale, got, tt.want)
		}
	}
}

func TestRescale(t *testing.T) {
	tests := []struct {
		m        int64
		from, to uint8
		want     int64
		err      error
	}{
		{6000001, 2, 8, 6000001000000, nil},
		{6000001000000, 8, 2, 6000001, nil},
		{-150, 2, 1, -15, nil},
		{-155, 2, 1, 0, ErrPrecision},
		{5, 3, 3, 5, nil},
		{1, 0, 18, 1e18, nil},
		{10, 0, 18, 0, ErrRange},
		{-10, 0, 18, 0, ErrRange},
		{math.MinInt64, 2, 2, 0, ErrRange},
		{1, 19, 2, 0, ErrScale},
	}
	for _, tt := range tests {
		got, err := Rescale(tt.m, tt.from, tt.to)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Rescale(%d, %d, %d) = %d, %v; want %d, %v", tt.m, tt.from, tt.to, got, err, tt.want, tt.err)
		}
	}
	d, err := Dec{M: 15, S: 1}.Rescale(3)
	if err != nil || d != (Dec{M: 1500, S: 3}) {
		t.Errorf("Dec.Rescale = %v, %v", d, err)
	}
}

func TestMul(t *testing.T) {
	tests := []struct {
		a, b Dec
		want Dec
		err  error
	}{
		{Dec{6000001, 2}, Dec{150000000, 8}, Dec{900000150000000, 10}, nil},
		{Dec{-15, 1}, Dec{2, 0}, Dec{-30, 1}, nil},
		{Dec{-15, 1}, Dec{-2, 0}, Dec{30, 1}, nil},
		{Dec{0, 10}, Dec{5, 10}, Dec{0, 18}, nil},
		// 100 × 100 at scale 20 drops trailing zeros until it fits.
		{Dec{1e12, 10}, Dec{1e12, 10}, Dec{1e18, 14}, nil},
		{Dec{3, 10}, Dec{7, 10}, Dec{}, ErrPrecision},
		{Dec{math.MaxInt64, 0}, Dec{2, 0}, Dec{}, ErrRange},
		{Dec{math.MaxInt64, 0}, Dec{1, 0}, Dec{math.MaxInt64, 0}, nil},
		{Dec{1e10, 0}, Dec{1e10, 0}, Dec{}, ErrRange},
		{Dec{1, 19}, Dec{1, 0}, Dec{}, ErrScale},
	}
	for _, tt := range tests {
		got, err := Mul(tt.a, tt.b)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Mul(%v, %v) = %v, %v; want %v, %v", tt.a, tt.b, got, err, tt.want, tt.err)
		}
	}
}

func TestCmp(t *testing.T) {
	tests := []struct {
		a, b Dec
		want int
	}{
		{Dec{15, 1}, Dec{150, 2}, 0},
		{Dec{15, 1}, Dec{151, 2}, -1},
		{Dec{-15, 1}, Dec{-151, 2}, 1},
		{Dec{-1, 0}, Dec{0, 5}, -1},
		{Dec{0, 0}, Dec{0, 18}, 0},
		{Dec{1, 0}, Dec{math.MaxInt64, 18}, -1},
		{Dec{1, 30}, Dec{1, 0}, -1},
		{Dec{math.MinInt64, 0}, Dec{math.MaxInt64, 0}, -1},
		{Dec{1, 0}, Dec{0, 40}, 1},
	}
	for _, tt := range tests {
		if got := tt.a.Cmp(tt.b); got != tt.want {
			t.Errorf("%v.Cmp(%v) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
		if got := tt.b.Cmp(tt.a); got != -tt.want {
			t.Errorf("%v.Cmp(%v) = %d; want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	b := []byte("60000.01000000")
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(b, 2) }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(b, 1) }); n != 0 {
		t.Errorf("Parse with ErrPrecision allocates %v times", n)
	}
}

var grammar = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// refParse is the reference for Parse, written with math/big.
func refParse(s string, scale uint8) (int64, error) {
	if scale > MaxScale {
		return 0, ErrScale
	}
	if !grammar.MatchString(s) {
		return 0, ErrSyntax
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("big.Rat rejects " + s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !r.IsInt() {
		return 0, ErrPrecision
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() == math.MinInt64 {
		return 0, ErrRange
	}
	return n.Int64(), nil
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"60000.01000000", "0.00100000", "-1.5", "9223372036854775807", "1e3", "0.0", "00001", "1.2.3", ""} {
		f.Add(s, uint8(2))
		f.Add(s, uint8(8))
	}
	f.Fuzz(func(t *testing.T, s string, scale uint8) {
		scale %= MaxScale + 2
		got, err := Parse(s, scale)
		want, wantErr := refParse(s, scale)
		if got != want || err != wantErr {
			t.Fatalf("Parse(%q, %d) = %d, %v; reference %d, %v", s, scale, got, err, want, wantErr)
		}
		if err != nil {
			return
		}
		text := Append(nil, got, scale)
		back, err := Parse(text, scale)
		if err != nil || back != got {
			t.Fatalf("Parse(Append(%d, %d) = %q) = %d, %v", got, scale, text, back, err)
		}
		if sc, err := ScaleOf(text); err == nil && sc > scale {
			t.Fatalf("ScaleOf(%q) = %d > %d", text, sc, scale)
		}
	})
}

func FuzzAppend(f *testing.F) {
	f.Add(int64(6000001), uint8(2))
	f.Add(int64(-5), uint8(2))
	f.Add(int64(math.MaxInt64), uint8(18))
	f.Add(int64(math.MinInt64+1), uint8(0))
	f.Fuzz(func(t *testing.T, m int64, scale uint8) {
		scale %= MaxScale + 1
		text := string(Append(nil, m, scale))
		r, ok := new(big.Rat).SetString(text)
		want := new(big.Rat).SetFrac(big.NewInt(m), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		if !ok || r.Cmp(want) != 0 {
			t.Fatalf("Append(%d, %d) = %q; value %v, want %v", m, scale, text, r, want)
		}
		back, err := Parse(text, scale)
		if m == math.MinInt64 {
			if err != ErrRange {
				t.Fatalf("Parse(%q) = %d, %v; want ErrRange", text, back, err)
			}
			return
		}
		if err != nil || back != m {
			t.Fatalf("Parse(Append(%d, %d) = %q) = %d, %v", m, scale, text, back, err)
		}
		// Mul by one and Cmp agree with the value.
		if p, err := Mul(Dec{m, scale}, Dec{1, 0}); err != nil || p.Cmp(Dec{m, scale}) != 0 {
			t.Fatalf("Mul(%v, 1) = %v, %v", Dec{m, scale}, p, err)
		}
	})
}
