package train

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// reporter shows progress within an epoch: a progress bar with loss,
// samples/s and ETA on a terminal, plain periodic lines otherwise.
type reporter interface {
	start(epoch, epochs, batches int)
	update(done int, loss, samplesPerSec float64)
	finish()
}

func newReporter(w io.Writer) reporter {
	if w == nil {
		return nopReporter{}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barReporter{w: w}
	}
	return &lineReporter{w: w, every: 15 * time.Second}
}

type nopReporter struct{}

func (nopReporter) start(int, int, int)          {}
func (nopReporter) update(int, float64, float64) {}
func (nopReporter) finish()                      {}

type barReporter struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	label string
	last  time.Time
}

func (r *barReporter) start(epoch, epochs, batches int) {
	r.label = fmt.Sprintf("epoch %d/%d", epoch, epochs)
	r.bar = progressbar.NewOptions(batches,
		progressbar.OptionSetWriter(r.w),
		progressbar.OptionSetDescription(r.label),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(25),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (r *barReporter) update(done int, loss, sps float64) {
	// Describing allocates; do it a few times a second, not every step.
	if now := time.Now(); now.Sub(r.last) > 200*time.Millisecond {
		r.last = now
		r.bar.Describe(fmt.Sprintf("%s loss %.4f %6.0f samples/s", r.label, loss, sps))
	}
	r.bar.Set(done)
}

func (r *barReporter) finish() { r.bar.Finish() }

// lineReporter prints a line every `every` while an epoch runs.
type lineReporter struct {
	w             io.Writer
	every         time.Duration
	epoch, epochs int
	batches       int
	begin, last   time.Time
}

func (r *lineReporter) start(epoch, epochs, batches int) {
	r.epoch, r.epochs, r.batches = epoch, epochs, batches
	r.begin, r.last = time.Now(), time.Now()
}

func (r *lineReporter) update(done int, loss, sps float64) {
	now := time.Now()
	if now.Sub(r.last) < r.every || done == r.batches {
		return
	}
	r.last = now
	eta := time.Duration(float64(now.Sub(r.begin)) / float64(done) * float64(r.batches-done)).Round(time.Second)
	fmt.Fprintf(r.w, "epoch %d/%d  step %d/%d  loss %.4f  %.0f samples/s  eta %v\n", r.epoch, r.epochs, done, r.batches, loss, sps, eta)
}

func (r *lineReporter) finish() {}
