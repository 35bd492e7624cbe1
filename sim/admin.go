package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// registerAdmin mounts the simulator's own control endpoints, kept apart
// from the Binance API under /sim/:
//
//	GET    /sim/faults  active fault rules and how often each kind fired
//	PUT    /sim/faults  replace the rules: a JSON array of faults
//	POST   /sim/faults  add one rule: a JSON fault
//	DELETE /sim/faults  remove every rule
//	POST   /sim/fire    carry out one fault now (see Server.Fire)
//	GET    /sim/conns   the open WebSocket connections and what each was sent
func (s *Server) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": s.Faults(), "fired": s.FaultCounts()})
	})
	mux.HandleFunc("PUT /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var list []Fault
		if !readAdminJSON(w, r, &list) {
			return
		}
		if err := s.SetFaults(list...); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": s.Faults()})
	})
	mux.HandleFunc("POST /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readAdminJSON(w, r, &f) {
			return
		}
		if err := s.AddFault(f); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": s.Faults()})
	})
	mux.HandleFunc("DELETE /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		_ = s.SetFaults()
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": s.Faults()})
	})
	mux.HandleFunc("POST /sim/fire", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readAdminJSON(w, r, &f) {
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
