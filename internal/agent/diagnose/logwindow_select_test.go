package diagnose

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSelectSmallest: a[:n] after selectSmallest is the set a full sort
// puts first, for random, sorted, reversed and few-distinct-prefix inputs.
func TestSelectSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		size := r.IntN(300)
		a := make([]int, size)
		for i := range a {
			a[i] = i * 7 // distinct: cmpf is a total order
		}
		switch iter % 4 {
		case 0:
			r.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
		case 1: // sorted
		case 2:
			slices.Reverse(a)
		case 3:
			for i := 0; i+1 < len(a); i += 2 {
				a[i], a[i+1] = a[i+1], a[i]
			}
		}
		n := 0
		if size > 0 {
			n = r.IntN(size + 1)
		}
		want := slices.Sorted(slices.Values(a))[:n]
		selectSmallest(a, n, cmp.Compare[int])
		got := slices.Sorted(slices.Values(a[:n]))
		if !slices.Equal(got, want) {
			t.Fatalf("size %d n %d: got %v, want %v", size, n, got, want)
		}
	}
}
