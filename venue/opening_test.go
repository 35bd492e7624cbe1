package venue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/httpx"
)

type rangeOptions struct{ N int }

func (o *rangeOptions) BindFlags(fs *pflag.FlagSet) { fs.IntVar(&o.N, "n", 1, "") }
func (o *rangeOptions) Validate() error {
	if o.N < 1 {
		return &SettingError{Flag: "n", Value: "0", Want: "out of range 1..9"}
	}
	return nil
}

func TestOptionsOf(t *testing.T) {
	if o := DefaultOptions[rangeOptions](); o.N != 1 {
		t.Fatalf("DefaultOptions = %+v, want the flag's default", o)
	}
	if o, err := OptionsOf[rangeOptions](Env{}, "x"); err != nil || o.N != 1 {
		t.Fatalf("no options: %v %v, want the defaults", o, err)
	}
	given := &rangeOptions{N: 5}
	if o, err := OptionsOf[rangeOptions](Env{Options: given}, "x"); err != nil || o != given {
		t.Fatalf("options given: %v %v", o, err)
	}
	_, err := OptionsOf[rangeOptions](Env{Options: &rangeOptions{}}, "x")
	var se *SettingError
	if !errors.Is(err, ErrBadInput) || !errors.As(err, &se) || se.Flag != "n" {
		t.Fatalf("bad options: %v, want ErrBadInput with the SettingError", err)
	}
	_, err = OptionsOf[rangeOptions](Env{Options: nopOptions{}}, "x")
	if err == nil || err.Error() != "x: Env.Options is a venue.nopOptions, not *venue.rangeOptions" || errors.Is(err, ErrBadInput) {
		t.Fatalf("options of another venue: %v", err)
	}
}

func TestOpening(t *testing.T) {
	o := NewOpening(Env{RESTURL: "https://127.0.0.1:1"}, "wss://ws", "https://rest")
	if o.Setup.WSURL != "wss://ws" || o.Setup.RESTURL != "https://127.0.0.1:1" {
		t.Fatalf("endpoints %s %s", o.Setup.WSURL, o.Setup.RESTURL)
	}
	var order []int
	o.Hold(func() { order = append(order, 1) })
	if _, err := o.REST(httpx.Config{BaseURL: "ftp://x"}); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "--rest-endpoint https://127.0.0.1:1") {
		t.Fatalf("a bad REST config: %v", err)
	}
	rest, err := o.REST(httpx.Config{BaseURL: o.Setup.RESTURL})
	if err != nil || rest == nil {
		t.Fatalf("REST: %v", err)
	}
	o.Hold(func() { order = append(order, 2) })
	if err := o.Dials(Env{}, "x-dial-budget", "5/x"); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "--x-dial-budget 5/x") {
		t.Fatalf("a bad budget: %v", err)
	}
	if err := o.Dials(Env{}, "x-dial-budget", "5/1m"); err != nil || o.Setup.Dials == nil {
		t.Fatalf("Dials: %v", err)
	}
	var err2 error
	o.CloseOnError(&err2)
	if len(order) != 0 {
		t.Fatalf("CloseOnError without an error released %v", order)
	}
	err2 = errors.New("failed")
	o.CloseOnError(&err2)
	o.Setup.Close()
	if !slices.Equal(order, []int{2, 1}) {
		t.Errorf("released %v, want last first", order)
	}
}

func TestLoadError(t *testing.T) {
	cause := errors.New("refused")
	err := LoadError(context.Background(), "https://h", "symbols", cause)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, cause) || err.Error() != "--rest-endpoint https://h: cannot load the symbols: refused" {
		t.Errorf("LoadError = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := LoadError(ctx, "https://h", "symbols", cause); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("LoadError after the context ended = %v", err)
	}
}

func TestCheckDialBudget(t *testing.T) {
	if err := CheckDialBudget("d", "3/1s", "2/1s"); err != nil {
		t.Errorf("a good budget: %v", err)
	}
	var se *SettingError
	if err := CheckDialBudget("d", "lots", "2/1s"); !errors.As(err, &se) || err.Error() != "--d lots: want LIMIT/WINDOW, e.g. 2/1s" {
		t.Errorf("a bad budget: %v", err)
	}
}

func TestIsWSURL(t *testing.T) {
	for s, want := range map[string]bool{
		"wss://stream.example:9443": true, "ws://127.0.0.1:1/ws": true,
		"https://h": false, "wss://": false, "": false, "wss//h": false, "::": false,
	} {
		if IsWSURL(s) != want {
			t.Errorf("IsWSURL(%q) = %v, want %v", s, !want, want)
		}
	}
}
