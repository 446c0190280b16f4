package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"
)

// SetMetrics are the metrics of one pass over a dataset.
type SetMetrics struct {
	Samples  int     `json:"samples"`
	Loss     float64 `json:"loss"`     // mean loss per sample
	Accuracy float64 `json:"accuracy"` // classifiers: fraction of correct argmax predictions
	// ReconError is the reconstruction error of autoencoders: squared error
	// summed over each sample's elements, averaged over samples (the measure
	// of Hinton & Salakhutdinov 2006).
	ReconError float64 `json:"recon_error"`
}

// EpochMetrics summarises one epoch.
type EpochMetrics struct {
	Epoch            int         `json:"epoch"` // from 1
	Step             int         `json:"step"`  // global steps done at the end of the epoch
	LR               float64     `json:"lr"`    // learning rate at the last step
	Train            SetMetrics  `json:"train"` // running metrics over the epoch's training batches
	Val              *SetMetrics `json:"val,omitempty"`
	Test             *SetMetrics `json:"test,omitempty"`
	Seconds          float64     `json:"seconds"`            // wall time of the training steps
	SamplesPerSecond float64     `json:"samples_per_second"` // training samples / Seconds
}

// String is the one-line report printed after each epoch.
func (e EpochMetrics) String(classifier bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d: train %s", e.Epoch, e.Train.format(classifier))
	if e.Val != nil {
		fmt.Fprintf(&b, "  val %s", e.Val.format(classifier))
	}
	if e.Test != nil {
		fmt.Fprintf(&b, "  test %s", e.Test.format(classifier))
	}
	fmt.Fprintf(&b, "  %.1fs %.0f samples/s", e.Seconds, e.SamplesPerSecond)
	return b.String()
}

func (s SetMetrics) format(classifier bool) string {
	if classifier {
		return fmt.Sprintf("loss %.4f acc %.2f%%", s.Loss, 100*s.Accuracy)
	}
	return fmt.Sprintf("loss %.5f recon %.3f", s.Loss, s.ReconError)
}

// WriteJSON writes v as indented JSON to path atomically: to a temporary file
// in the same directory, synced, then renamed over path.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return errors.Wrapf(err, "train: encoding %s", path)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return errors.Wrap(err, "train")
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return errors.Wrapf(err, "train: writing %s", path)
	}
	if err = f.Sync(); err != nil {
		return errors.Wrapf(err, "train: syncing %s", path)
	}
	if err = f.Close(); err != nil {
		return errors.Wrapf(err, "train: closing %s", path)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return errors.Wrapf(err, "train: renaming onto %s", path)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// appendJSONLine appends v as one JSON line to path and syncs it.
func appendJSONLine(path string, v any) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return errors.Wrap(err, "train: metrics log")
	}
	w := bufio.NewWriter(f)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		f.Close()
		return errors.Wrapf(err, "train: writing %s", path)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return errors.Wrapf(err, "train: writing %s", path)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return errors.Wrapf(err, "train: syncing %s", path)
	}
	return f.Close()
}
