package dist

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestLocalBasics(t *testing.T) {
	var r AllReducer = Local{}
	if r.Rank() != 0 || r.Size() != 1 {
		t.Fatalf("Rank, Size = %d, %d; want 0, 1", r.Rank(), r.Size())
	}
	if got := r.String(); got != "local (1 process)" {
		t.Errorf("String = %q", got)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLocalAllReduce(t *testing.T) {
	r := Local{}
	src := []float32{1, -2, 3.5}
	dst := make([]float32, 3)
	if err := r.AllReduce(dst, src); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst, []float32{1, -2, 3.5}) || !slices.Equal(src, []float32{1, -2, 3.5}) {
		t.Errorf("out of place: dst %v, src %v", dst, src)
	}
	if err := r.AllReduce(src, src); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(src, []float32{1, -2, 3.5}) {
		t.Errorf("in place: %v", src)
	}
	if err := r.AllReduce(nil, nil); err != nil {
		t.Errorf("empty: %v", err)
	}
	if err := r.AllReduce(dst[:2], src); err == nil {
		t.Error("length mismatch: no error")
	}
	buf := []float32{1, 2, 3, 4}
	if err := r.AllReduce(buf[1:], buf[:3]); err == nil {
		t.Error("partial overlap: no error")
	}
	if err := r.AllReduce(buf[2:], buf[:2]); err != nil {
		t.Errorf("disjoint halves of one array: %v", err)
	}

	src64 := []float64{1e300, -2}
	dst64 := make([]float64, 2)
	if err := r.AllReduce64(dst64, src64); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst64, src64) {
		t.Errorf("AllReduce64 out of place: %v", dst64)
	}
	if err := r.AllReduce64(src64, src64); err != nil || !slices.Equal(src64, []float64{1e300, -2}) {
		t.Errorf("AllReduce64 in place: %v, %v", src64, err)
	}
	if err := r.AllReduce64(dst64, src64[:1]); err == nil {
		t.Error("AllReduce64 length mismatch: no error")
	}
}

func TestLocalBroadcast(t *testing.T) {
	r := Local{}
	buf := []float32{1, 2}
	if err := r.Broadcast(buf, 0); err != nil || !slices.Equal(buf, []float32{1, 2}) {
		t.Errorf("Broadcast root 0: %v, %v", buf, err)
	}
	for _, root := range []int{1, -1} {
		if err := r.Broadcast(buf, root); err == nil {
			t.Errorf("Broadcast root %d: no error", root)
		}
		if err := r.Broadcast64([]float64{1}, root); err == nil {
			t.Errorf("Broadcast64 root %d: no error", root)
		}
	}
	if err := r.Broadcast64([]float64{1}, 0); err != nil {
		t.Errorf("Broadcast64 root 0: %v", err)
	}
}

func unsetLaunchEnv(t *testing.T) {
	for _, k := range []string{"OMPI_COMM_WORLD_SIZE", "PMIX_RANK"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
}

func TestOpenWithoutLauncher(t *testing.T) {
	unsetLaunchEnv(t)
	r, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(Local); !ok {
		t.Fatalf("Open = %T (%v), want Local", r, r)
	}
}

// fakeReducer simulates a job of size ranks in which every other rank holds
// the pack buffer's index i at position i.
type fakeReducer struct {
	Local
	size  int
	calls int
	n     int
	fail  bool
}

func (f *fakeReducer) Size() int { return f.size }

func (f *fakeReducer) AllReduce(dst, src []float32) error {
	f.calls++
	f.n = len(dst)
	if f.fail {
		return errors.New("fake failure")
	}
	for i := range dst {
		dst[i] = src[i] + float32((f.size-1)*i)
	}
	return nil
}

func (f *fakeReducer) AllReduce64(dst, src []float64) error {
	f.calls++
	for i := range dst {
		dst[i] = src[i] * float64(f.size)
	}
	return nil
}

func TestAverager(t *testing.T) {
	f := &fakeReducer{size: 4}
	a := []float32{4, 8}
	b := []float32{}
	c := []float32{12, 16, 20}
	var av Averager
	if err := av.Average(f, [][]float32{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if f.calls != 1 || f.n != 5 {
		t.Errorf("AllReduce calls %d over %d elements; want 1 over 5", f.calls, f.n)
	}
	// Position i of the pack holds (x + 3i) / 4.
	if want := []float32{1, 2.75}; !slices.Equal(a, want) {
		t.Errorf("a = %v, want %v", a, want)
	}
	if want := []float32{4.5, 6.25, 8}; !slices.Equal(c, want) {
		t.Errorf("c = %v, want %v", c, want)
	}

	f.fail = true
	a = []float32{4, 8}
	if err := av.Average(f, [][]float32{a}); err == nil || !slices.Equal(a, []float32{4, 8}) {
		t.Errorf("failed all-reduce: err %v, a %v", err, a)
	}

	// One process: the identity.
	x, y := []float32{1, 2, 3}, []float32{-1}
	if err := av.Average(Local{}, [][]float32{x, y}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x, []float32{1, 2, 3}) || !slices.Equal(y, []float32{-1}) {
		t.Errorf("Local average: %v %v", x, y)
	}
	if err := Average(Local{}, x, y); err != nil || !slices.Equal(x, []float32{1, 2, 3}) {
		t.Errorf("Average(Local): %v %v", x, err)
	}
	f = &fakeReducer{size: 2}
	x = []float32{2, 4}
	if err := Average(f, x); err != nil || !slices.Equal(x, []float32{1, 2.5}) {
		t.Errorf("Average(fake): %v %v", x, err)
	}
}

func TestAveragerAllocs(t *testing.T) {
	bufs := [][]float32{make([]float32, 1000), make([]float32, 10), make([]float32, 300)}
	for _, r := range []AllReducer{Local{}, &fakeReducer{size: 2}} {
		var av Averager
		if err := av.Average(r, bufs); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			if err := av.Average(r, bufs); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%T: %v allocations per Average after the first", r, allocs)
		}
	}
}

func TestSumFloat64s(t *testing.T) {
	loss, n := 1.5, 10.0
	if err := SumFloat64s(Local{}, &loss, &n); err != nil || loss != 1.5 || n != 10 {
		t.Errorf("Local: %v %v %v", loss, n, err)
	}
	f := &fakeReducer{size: 3}
	if err := SumFloat64s(f, &loss, &n); err != nil || loss != 4.5 || n != 30 || f.calls != 1 {
		t.Errorf("fake: %v %v %v (%d calls)", loss, n, err, f.calls)
	}
}

func TestLibraryErrorsNamePackage(t *testing.T) {
	err := Local{}.Broadcast(nil, 3)
	if err == nil || !strings.HasPrefix(err.Error(), "dist: Broadcast") {
		t.Errorf("error %v", err)
	}
}
