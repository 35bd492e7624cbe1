package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
)

// stateVersion is the "version" of a state file this program writes and reads.
const stateVersion = 1

// stateDoc is the content of a --state file: how far each trade sequence
// was delivered to the outputs. Each position names its venue, so one file
// holds the positions of every venue of a run (and those of venues a run
// does not stream, kept as they were); a file written by a run of one
// venue is of the same form.
type stateDoc struct {
	Version   int             `json:"version"`
	Saved     time.Time       `json:"saved"`
	Positions []feed.Position `json:"positions"`
}

// loadState reads the positions of an earlier run; a file that does not
// exist yet is a first run (no positions).
func loadState(path string) ([]feed.Position, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, usageErrorf("--state %s: %w", path, pathErr(err))
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, usageErrorf("--state %s: not a state file of feedkeeper: %w", path, err)
	}
	if doc.Version != stateVersion {
		return nil, usageErrorf("--state %s: version %d, this feedkeeper reads version %d", path, doc.Version, stateVersion)
	}
	return doc.Positions, nil
}

// saveState writes positions to path atomically: a new file beside it,
// synced, then renamed over it.
func saveState(path string, positions []feed.Position) error {
	b, err := json.Marshal(stateDoc{Version: stateVersion, Saved: time.Now().UTC(), Positions: positions})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// stateSaver saves the gateway's positions every interval, never ahead of
// the outputs: a set of positions is written once every event handed to
// the sinks before it was taken has reached its destination (or was lost,
// which the sinks report), so a crash loses no trade the state says was
// delivered. Close stops it and waits.
type stateSaver struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startStateSaver(path string, every time.Duration, positions func() []feed.Position, sinks func() sink.Stats, log *slog.Logger) *stateSaver {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stateSaver{cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var pending []feed.Position
		var upTo int64 // events accepted by the sinks when pending was taken
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if pending != nil {
				if st := sinks(); st.Delivered+st.Lost < upTo {
					continue // the outputs do not have it all yet
				}
				err := saveState(path, pending)
				switch {
				case err != nil && !failing:
					log.Error("saving the state failed", "file", path, "err", err)
				case err == nil && failing:
					log.Info("saving the state works again", "file", path)
				}
				failing = err != nil
				pending = nil
			}
			pending = positions()
			upTo = sinks().Accepted
		}
	}()
	return s
}

func (s *stateSaver) Close() {
	s.cancel()
	s.wg.Wait()
}

// finalState saves the positions once the gateway and the sinks are closed
// (everything delivered is in the outputs).
func finalState(path string, positions []feed.Position) error {
	if err := saveState(path, positions); err != nil {
		return fmt.Errorf("--state %s: %w", path, err)
	}
	return nil
}
