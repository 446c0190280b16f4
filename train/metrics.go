package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/internal/atomicfile"
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

// line is the one-line report printed after each epoch: the loss, plus
// the accuracy of a classifier or the reconstruction error of an
// autoencoder.
func (e EpochMetrics) line(classifier, reconstruct bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d: train %s", e.Epoch, e.Train.format(classifier, reconstruct))
	if e.Val != nil {
		fmt.Fprintf(&b, "  val %s", e.Val.format(classifier, reconstruct))
	}
	if e.Test != nil {
		fmt.Fprintf(&b, "  test %s", e.Test.format(classifier, reconstruct))
	}
	fmt.Fprintf(&b, "  %.1fs %.0f samples/s", e.Seconds, e.SamplesPerSecond)
	return b.String()
}

func (s SetMetrics) format(classifier, reconstruct bool) string {
	switch {
	case classifier:
		return fmt.Sprintf("loss %.4f acc %.2f%%", s.Loss, 100*s.Accuracy)
	case reconstruct:
		return fmt.Sprintf("loss %.5f recon %.3f", s.Loss, s.ReconError)
	}
	return fmt.Sprintf("loss %.5f", s.Loss)
}

// WriteJSON writes v as indented JSON to path atomically: to a temporary file
// in the same directory, synced, then renamed over path. NaN and ±Inf
// float64 values in maps and slices of v are written as null.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(finite(v), "", "  ")
	if err != nil {
		return errors.Wrapf(err, "train: encoding %s", path)
	}
	return errors.Wrap(atomicfile.Write(path, append(data, '\n')), "train")
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

// jsonFloat is a float64 that JSON encodes as null when it is NaN or ±Inf
// (JSON has no such numbers) and decodes null as NaN, so that a diverged
// evaluation is logged rather than failing the log.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

type setMetricsJSON struct {
	Samples    int       `json:"samples"`
	Loss       jsonFloat `json:"loss"`
	Accuracy   jsonFloat `json:"accuracy"`
	ReconError jsonFloat `json:"recon_error"`
}

// MarshalJSON writes non-finite values as null.
func (s SetMetrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(setMetricsJSON{s.Samples, jsonFloat(s.Loss), jsonFloat(s.Accuracy), jsonFloat(s.ReconError)})
}

// UnmarshalJSON reads null as NaN.
func (s *SetMetrics) UnmarshalJSON(b []byte) error {
	var j setMetricsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = SetMetrics{j.Samples, float64(j.Loss), float64(j.Accuracy), float64(j.ReconError)}
	return nil
}

type epochMetricsJSON struct {
	Epoch            int         `json:"epoch"`
	Step             int         `json:"step"`
	LR               jsonFloat   `json:"lr"`
	Train            SetMetrics  `json:"train"`
	Val              *SetMetrics `json:"val,omitempty"`
	Test             *SetMetrics `json:"test,omitempty"`
	Seconds          jsonFloat   `json:"seconds"`
	SamplesPerSecond jsonFloat   `json:"samples_per_second"`
}

// MarshalJSON writes non-finite values as null.
func (e EpochMetrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(epochMetricsJSON{e.Epoch, e.Step, jsonFloat(e.LR), e.Train, e.Val, e.Test, jsonFloat(e.Seconds), jsonFloat(e.SamplesPerSecond)})
}

// UnmarshalJSON reads null as NaN.
func (e *EpochMetrics) UnmarshalJSON(b []byte) error {
	var j epochMetricsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = EpochMetrics{j.Epoch, j.Step, float64(j.LR), j.Train, j.Val, j.Test, float64(j.Seconds), float64(j.SamplesPerSecond)}
	return nil
}

// finite returns v with every NaN or ±Inf float64 value of a map or slice
// (at any depth) replaced by nil, so that it encodes as JSON null.
func finite(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = finite(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = finite(e)
		}
		return out
	}
	return v
}
