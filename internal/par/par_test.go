package par

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestForCoversEachIndexOnce(t *testing.T) {
	for _, tc := range []struct{ n, grain int }{{0, 1}, {1, 1}, {7, 1}, {100, 3}, {100000, 1000}, {5, 10}} {
		seen := make([]int32, tc.n)
		var chunks atomic.Int32
		For(tc.n, tc.grain, func(c, lo, hi int) {
			chunks.Add(1)
			if c < 0 || c >= Chunks(tc.n, tc.grain) {
				t.Errorf("chunk %d out of range", c)
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&seen[i], 1)
			}
		})
		for i, s := range seen {
			if s != 1 {
				t.Fatalf("n=%d grain=%d: index %d visited %d times", tc.n, tc.grain, i, s)
			}
		}
		if tc.n > 0 && int(chunks.Load()) != Chunks(tc.n, tc.grain) {
			t.Fatalf("n=%d: %d chunks, Chunks says %d", tc.n, chunks.Load(), Chunks(tc.n, tc.grain))
		}
	}
}

func TestNestedForRunsInline(t *testing.T) {
	var total atomic.Int64
	For(1000, 10, func(_, lo, hi int) {
		For(hi-lo, 1, func(_, a, b int) { total.Add(int64(b - a)) })
	})
	if total.Load() != 1000 {
		t.Fatalf("nested loops covered %d of 1000", total.Load())
	}
}

func TestChunkBoundariesAreFixed(t *testing.T) {
	bounds := func() [][2]int {
		out := make([][2]int, Chunks(1000, 7))
		For(1000, 7, func(c, lo, hi int) { out[c] = [2]int{lo, hi} })
		return out
	}
	a, b := bounds(), bounds()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("chunk %d: %v then %v", i, a[i], b[i])
		}
	}
}

func TestForAllocatesNothing(t *testing.T) {
	x := make([]float32, 1<<16)
	fn := func(_, lo, hi int) {
		for j := lo; j < hi; j++ {
			x[j]++
		}
	}
	if a := testing.AllocsPerRun(100, func() { For(len(x), 1<<10, fn) }); a != 0 {
		t.Fatalf("For allocated %v times per call", a)
	}
}

// TestConcurrentForReusesJobsSafely runs loops from several goroutines at
// once, so that jobs pass between them through the pool while workers may
// still hold them (run it with -race).
func TestConcurrentForReusesJobsSafely(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 300; rep++ {
				n := 1 + rep%97
				var total atomic.Int64
				For(n, 1, func(_, lo, hi int) { total.Add(int64(hi - lo)) })
				if total.Load() != int64(n) {
					t.Errorf("covered %d of %d", total.Load(), n)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkForSmall(b *testing.B) {
	x := make([]float32, 1<<16)
	for i := 0; i < b.N; i++ {
		For(len(x), 1<<12, func(_, lo, hi int) {
			for j := lo; j < hi; j++ {
				x[j] += 1
			}
		})
	}
}
