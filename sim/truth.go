package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// newTruth returns the handler of the simulator's ground truth, for tests
// that check what a client rebuilt against what the market really did:
//
//	GET /sim/book?symbol=BTCUSDT[&id=N]     the full book right after update N (default: now):
//	                                        {"symbol":…,"lastUpdateId":…,"bids":[["p","q"],…],"asks":[…]}
//	GET /sim/trades?symbol=…[&from=A][&to=B] the aggregate trades A..B (default: all kept),
//	                                        in GET /api/v3/aggTrades form
//	GET /sim/trades?symbol=…&kind=trade[&from=A][&to=B]
//	                                        the individual trades A..B (default: all kept),
//	                                        in GET /api/v3/historicalTrades form, with the
//	                                        IDs of the @trade stream; no REST lag
//	GET /sim/state                          per symbol: last and oldest update, aggregate
//	                                        trade and trade IDs kept, status, tickSize and
//	                                        stepSize in force
//
// Quantities are written as Binance writes them, a capped one (qty-cap) as
// "92233720368.54775807".
//
// Errors are {"error":"…"}: 400 for a bad parameter, 404 for an unknown
// symbol or an ID outside the history. Other paths under /sim/ answer 404.
func newTruth(m *market) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sim/book", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s, err := truthSymbol(m, q.Get("symbol"))
		if err != nil {
			writeTruthError(w, err)
			return
		}
		id, ok, err := truthID(q.Get("id"), "id")
		if err != nil {
			writeTruthError(w, err)
			return
		}
		if !ok {
			id, _, _, _ = m.lastIDs(s.spec.name)
		}
		book, err := m.bookAt(s.spec.name, id)
		if err != nil {
			writeTruthError(w, err)
			return
		}
		writeTruthJSON(w, http.StatusOK, book)
	})
	mux.HandleFunc("GET /sim/trades", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s, err := truthSymbol(m, q.Get("symbol"))
		if err != nil {
			writeTruthError(w, err)
			return
		}
		kind := q.Get("kind")
		if kind != "" && kind != "aggTrade" && kind != "trade" {
			writeTruthError(w, &paramError{"kind", kind, "is not aggTrade or trade"})
			return
		}
		from, hasFrom, err := truthID(q.Get("from"), "from")
		if err != nil {
			writeTruthError(w, err)
			return
		}
		to, hasTo, err := truthID(q.Get("to"), "to")
		if err != nil {
			writeTruthError(w, err)
			return
		}
		if kind == "trade" {
			m.mu.Lock()
			if !hasFrom {
				from = m.oldestTrade(s)
			}
			if !hasTo {
				to = s.nextTrade - 1
			}
			m.mu.Unlock()
			trades, err := m.tradesRange(s.spec.name, from, to)
			if err != nil {
				writeTruthError(w, err)
				return
			}
			writeTruthJSON(w, http.StatusOK, trades)
			return
		}
		if !hasFrom || !hasTo {
			m.mu.Lock()
			if !hasFrom {
				from = m.oldestAgg(s)
			}
			if !hasTo {
				to = s.nextAgg - 1
			}
			m.mu.Unlock()
		}
		trades, err := m.aggTrades(s.spec.name, from, to)
		if err != nil {
			writeTruthError(w, err)
			return
		}
		writeTruthJSON(w, http.StatusOK, trades)
	})
	mux.HandleFunc("GET /sim/state", func(w http.ResponseWriter, r *http.Request) {
		writeTruthJSON(w, http.StatusOK, struct {
			ServerTime int64         `json:"serverTime"`
			Symbols    []SymbolState `json:"symbols"`
		}{time.Now().UnixMilli(), m.states()})
	})
	mux.HandleFunc("/sim/", func(w http.ResponseWriter, r *http.Request) {
		writeTruthJSON(w, http.StatusNotFound, truthErrorJSON{"no such ground-truth endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// truthSymbol finds the symbol parameter.
func truthSymbol(m *market, v string) (*symState, error) {
	if v == "" {
		return nil, &paramError{"symbol", v, "is required"}
	}
	return m.lookup(v)
}

// errBadParam marks a malformed ground-truth query parameter.
var errBadParam = errors.New("bad parameter")

// truthID reads an optional ID parameter.
func truthID(v, name string) (int64, bool, error) {
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, &paramError{name, v, "is not an ID"}
	}
	return n, true, nil
}

// truthRange reads a truth query's from and to, both IDs (or times, for a
// front-end whose trades have no ordered IDs); an absent to is toDefault's,
// or an error when toDefault is nil.
func truthRange(q url.Values, toDefault func() int64) (from, to int64, err error) {
	if from, _, err = truthID(q.Get("from"), "from"); err != nil {
		return 0, 0, err
	}
	to, has, err := truthID(q.Get("to"), "to")
	switch {
	case err != nil:
		return 0, 0, err
	case !has && toDefault == nil:
		return 0, 0, &paramError{"to", "", "is missing"}
	case !has:
		to = toDefault()
	}
	return from, to, nil
}

// writeTruthList answers a truth query of a list: the list ([] when
// empty), or err.
func writeTruthList[T any](w http.ResponseWriter, list []T, err error) {
	if err != nil {
		writeTruthError(w, err)
		return
	}
	if list == nil {
		list = []T{}
	}
	writeTruthJSON(w, http.StatusOK, list)
}

type paramError struct{ name, value, problem string }

func (e *paramError) Error() string {
	return "parameter " + e.name + "=" + strconv.Quote(e.value) + " " + e.problem
}

func (e *paramError) Unwrap() error { return errBadParam }

type truthErrorJSON struct {
	Error string `json:"error"`
}

func writeTruthError(w http.ResponseWriter, err error) {
	status := http.StatusNotFound
	if errors.Is(err, errBadParam) {
		status = http.StatusBadRequest
	}
	writeTruthJSON(w, status, truthErrorJSON{err.Error()})
}

func writeTruthJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, errorJSON(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorJSON(err error) []byte {
	b, _ := json.Marshal(truthErrorJSON{err.Error()})
	return b
}
