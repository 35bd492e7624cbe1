package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// registerAdmin mounts the simulator's own control endpoints, kept apart
// from the Binance API under /sim/:
//
//	GET    /sim/faults  active fault rules, each with the venues it applies
//	                    to ("venues"), how often each kind fired ("fired")
//	                    and how often at each venue ("firedByVenue")
//	PUT    /sim/faults  replace the rules: a JSON array of faults
//	POST   /sim/faults  add one rule: a JSON fault
//	DELETE /sim/faults  remove every rule
//	POST   /sim/fire    carry out one fault now (see Server.Fire)
//	GET    /sim/conns   the open WebSocket connections and what each was sent
//	POST   /sim/symbol?symbol=BTCUSDT[&status=HALT][&tickSize=0.001][&stepSize=1]
//	                    change a symbol's status and filters (see
//	                    Server.SetSymbolStatus and SetSymbolFilters);
//	                    answers the symbol's state as /sim/state gives it
//
// A JSON fault aims at some venues with "venue":"okx" or "okx+bybit"
// (Fault.Venue); without it, it applies to every venue. A fault naming a
// symbol the market does not trade, or a venue the server does not serve,
// is refused (400).
func (s *Server) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("POST /sim/symbol", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sym := q.Get("symbol")
		for k := range q {
			switch k {
			case "symbol", "status", "tickSize", "stepSize":
			default:
				writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("unknown parameter %q (known: symbol, status, tickSize, stepSize)", k)})
				return
			}
		}
		if sym == "" {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": "parameter symbol is required"})
			return
		}
		var err error
		if st := q.Get("status"); st != "" {
			err = s.SetSymbolStatus(sym, st)
		}
		if tick, step := q.Get("tickSize"), q.Get("stepSize"); err == nil && (tick != "" || step != "") {
			err = s.SetSymbolFilters(sym, tick, step)
		}
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrUnknownSymbol) {
				status = http.StatusNotFound
			}
			writeAdminJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		for _, st := range s.market.states() {
			if st.Symbol == strings.ToUpper(sym) {
				writeAdminJSON(w, http.StatusOK, st)
				return
			}
		}
	})
	mux.HandleFunc("GET /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": s.faultViews(), "fired": s.FaultCounts(), "firedByVenue": s.FaultCountsByVenue()})
	})
	mux.HandleFunc("PUT /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var list []Fault
		if !readAdminJSON(w, r, &list) {
			return
		}
		if err := s.checkFaultSymbols(list...); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := s.SetFaults(list...); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": s.faultViews()})
	})
	mux.HandleFunc("POST /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readAdminJSON(w, r, &f) {
			return
		}
		if err := s.checkFaultSymbols(f); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := s.AddFault(f); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": s.faultViews()})
	})
	mux.HandleFunc("DELETE /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		_ = s.SetFaults()
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": s.faultViews()})
	})
	mux.HandleFunc("POST /sim/fire", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readAdminJSON(w, r, &f) {
			return
		}
		if err := s.checkFaultSymbols(f); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := s.Fire(f); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdminJSON(w, http.StatusOK, map[string]string{"fired": f.String()})
	})
	mux.HandleFunc("GET /sim/conns", func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, http.StatusOK, map[string]any{"conns": s.Conns()})
	})
}

// checkFaultSymbols refuses faults naming a symbol the market does not trade.
func (s *Server) checkFaultSymbols(list ...Fault) error {
	for _, f := range list {
		if f.Symbol == "" {
			continue
		}
		if _, err := s.market.lookup(f.Symbol); err != nil {
			return fmt.Errorf("fault %s: symbol=%q: %w", f.Kind, f.Symbol, err)
		}
	}
	return nil
}

// readAdminJSON decodes a request body of at most 1 MiB into v, answering 400
// with the reason when it cannot.
func readAdminJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		// a fault without p, every or times is fired once
		if f, ok := v.(*Fault); ok && r.URL.Path == "/sim/fire" {
			var probe map[string]json.RawMessage
			if json.Unmarshal(body, &probe) == nil && probe["p"] == nil && probe["every"] == nil && probe["times"] == nil {
				probe["times"] = json.RawMessage("1")
				body, _ = json.Marshal(probe)
			}
			err = json.Unmarshal(body, f)
		} else {
			err = json.Unmarshal(body, v)
		}
	}
	if err != nil {
		writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("bad request body: %v", err)})
		return false
	}
	return true
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
