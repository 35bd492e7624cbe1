package fixed

import (
	"strconv"
	"testing"
)

var (
	sinkInt int64
	sinkDec Dec
)

func BenchmarkParse(b *testing.B) {
	for _, in := range []string{"60000.01000000", "0.00100000", "3"} {
		buf := []byte(in)
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, err := Parse(buf, 2)
				if err != nil && err != ErrPrecision {
					b.Fatal(err)
				}
				sinkInt += m
			}
		})
	}
}

// BenchmarkParseFloat is the strconv.ParseFloat baseline for the same text.
func BenchmarkParseFloat(b *testing.B) {
	b.ReportAllocs()
	s := "60000.01000000"
	for b.Loop() {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			b.Fatal(err)
		}
		sinkInt += int64(f)
	}
}

func BenchmarkAppend(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	for b.Loop() {
		buf = Append(buf[:0], 6000001, 2)
	}
	sinkInt += int64(len(buf))
}

func BenchmarkMul(b *testing.B) {
	b.ReportAllocs()
	x, y := Dec{6000001, 2}, Dec{150000000, 8}
	for b.Loop() {
		d, err := Mul(x, y)
		if err != nil {
			b.Fatal(err)
		}
		sinkDec = d
	}
}
