package venue

import (
	"sync"
	"testing"
)

func TestTable(t *testing.T) {
	var tab Table[[]int]
	if tab.Load() != nil {
		t.Fatal("the zero Table holds a table")
	}
	first := []int{1, 1}
	tab.Store(&first)
	// Widen raises element i to v, as a venue widens one instrument's scale.
	widen := func(i, v int) bool {
		return tab.Widen(func(old *[]int) *[]int {
			if (*old)[i] >= v {
				return nil
			}
			next := append([]int(nil), *old...)
			next[i] = v
			return &next
		})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 2; v <= 50; v++ {
				widen(g%2, v)
			}
		}()
	}
	wg.Wait()
	if got := *tab.Load(); got[0] != 50 || got[1] != 50 {
		t.Fatalf("table %v, want every widening kept", got)
	}
	if first[0] != 1 || first[1] != 1 {
		t.Fatalf("the first table changed: %v", first)
	}
	if tab.Widened() != 98 {
		t.Errorf("Widened = %d, want 98 (49 changes of each element)", tab.Widened())
	}
	if widen(0, 3) || tab.Widened() != 98 {
		t.Error("a widening to a narrower value changed the table")
	}
	if !tab.Replace(func(old *[]int) *[]int { return &[]int{0, 0} }) || (*tab.Load())[0] != 0 || tab.Widened() != 98 {
		t.Error("Replace did not put the table in force, or counted as a widening")
	}
}
