package cli

import (
	"flag"
	"testing"
)

// TestAugmentEpochs: -augment trains the augmented default number of
// epochs unless -epochs is given.
func TestAugmentEpochs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 12},
		{[]string{"-augment"}, 20},
		{[]string{"-augment", "-epochs", "3"}, 3},
		{[]string{"-epochs", "5"}, 5},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f := Register(fs, Flags{Epochs: 12, Batch: 64, LR: 0.1, Seed: 1})
		f.RegisterAugment(20)
		if err := f.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if f.Epochs != tc.want {
			t.Errorf("%v: %d epochs, want %d", tc.args, f.Epochs, tc.want)
		}
	}
	if a := DigitAugmentation(3); a.Check([]int{1, 28, 28}) != nil || len(a.Steps) == 0 {
		t.Fatal("the digit augmentation does not apply to digits")
	}
}
