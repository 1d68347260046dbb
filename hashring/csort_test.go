package hashring

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// For a total order glibc's merge sort is a stable sort.
func TestGlibcMsortIsStableForTotalOrders(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 7, 64, 1000} {
		vals := make([]int, n)
		for i := range vals {
			vals[i] = rnd.IntN(10)
		}
		cmp := func(a, b int) int { return vals[a] - vals[b] }
		perm := make([]int, n)
		want := make([]int, n)
		for i := range perm {
			perm[i], want[i] = i, i
		}
		glibcMsort(perm, make([]int, n), cmp)
		slices.SortStableFunc(want, cmp)
		if !slices.Equal(perm, want) {
			t.Errorf("n=%d: glibcMsort %v, stable sort %v", n, perm, want)
		}
	}
}
