package venue

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/feed"
)

type nopOptions struct{}

func (nopOptions) BindFlags(*pflag.FlagSet) {}
func (nopOptions) Validate() error          { return nil }

type nopFactory struct{}

func (nopFactory) Defaults() Defaults {
	return Defaults{WSURL: "wss://127.0.0.1:1", RESTURL: "https://127.0.0.1:1"}
}
func (nopFactory) NewOptions() Options                        { return nopOptions{} }
func (nopFactory) CheckStream(string) error                   { return nil }
func (nopFactory) CompleteStream(string) []string             { return nil }
func (nopFactory) Open(context.Context, Env) (*Setup, error)  { return &Setup{}, nil }
func (nopFactory) Replay(json.RawMessage) (feed.Venue, error) { return nil, errors.New("none") }

func TestRegistry(t *testing.T) {
	Register("zz-second", nopFactory{})
	Register("aa-first", nopFactory{})
	t.Cleanup(func() {
		mu.Lock()
		delete(factories, "zz-second")
		delete(factories, "aa-first")
		mu.Unlock()
	})
	if got := strings.Join(Names(), ","); got != "aa-first,zz-second" {
		t.Fatalf("Names = %s, want them sorted", got)
	}
	if f, err := Lookup("aa-first"); err != nil || f == nil {
		t.Fatalf("Lookup: %v", err)
	}
	_, err := Lookup("kraken")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), `"kraken"`) || !strings.Contains(err.Error(), "aa-first, zz-second") {
		t.Fatalf("Lookup of an unknown name: %v; want ErrUnknown naming it and the known ones", err)
	}
	for name, f := range map[string]Factory{"aa-first": nopFactory{}, "nil": nil, "": nopFactory{}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q, %v) did not panic", name, f)
				}
			}()
			Register(name, f)
		}()
	}
}

func TestClassifiedErrors(t *testing.T) {
	base := errors.New("streams foo@trade: symbol FOO not listed")
	for _, c := range []struct {
		err       error
		is, isNot error
	}{{BadInput(base), ErrBadInput, ErrUnavailable}, {Unavailable(base), ErrUnavailable, ErrBadInput}} {
		if c.err.Error() != base.Error() || !errors.Is(c.err, c.is) || errors.Is(c.err, c.isNot) || !errors.Is(c.err, base) {
			t.Errorf("%v: want the message unchanged, matching %v and the error wrapped, not %v", c.err, c.is, c.isNot)
		}
	}
	s := &Setup{}
	n := 0
	s.Release = func() { n++ }
	s.Close()
	s.Close()
	if n != 1 {
		t.Fatalf("Release called %d times by two Close", n)
	}
}
