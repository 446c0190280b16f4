package datasets_test

import (
	"fmt"
	"log"

	"github.com/retina-ml/retina/datasets"
)

// Load MNIST, hold out a validation set, and iterate over batches: shuffled
// full batches for training, padded batches for evaluation.
func ExampleMNIST() {
	train, test, err := datasets.MNIST("") // RETINA_DATA or the module cache
	if err != nil {
		log.Fatal(err)
	}
	train, val := train.Split(5000, 1)
	fmt.Println("train", train.Len(), "validation", val.Len(), "test", test.Len(), "shape", train.Shape)

	trainer := &datasets.Loader{Set: train, BatchSize: 128, Shuffle: true, Seed: 1}
	for epoch := range 2 {
		it := trainer.Epoch(epoch)
		var b datasets.Batch
		seen := 0
		for it.Next(&b) {
			seen += b.Size // a training step would use b.X and b.OneHot here
		}
		fmt.Println("epoch", epoch, "batches", trainer.Batches(), "samples", seen)
	}

	eval := &datasets.Loader{Set: test, BatchSize: 128, Partial: datasets.PadPartial}
	it := eval.Epoch(0)
	var b datasets.Batch
	counts := make([]int, test.Classes)
	for it.Next(&b) {
		for _, label := range b.Labels[:b.Size] { // ignore the padding rows
			counts[label]++
		}
	}
	fmt.Println("eval batches", eval.Batches(), "last batch size", b.Size, "of", len(b.Labels))
	fmt.Println("test labels per digit", counts)
	// Output:
	// train 55000 validation 5000 test 10000 shape [1 28 28]
	// epoch 0 batches 429 samples 54912
	// epoch 1 batches 429 samples 54912
	// eval batches 79 last batch size 16 of 128
	// test labels per digit [980 1135 1032 1010 982 892 958 1028 974 1009]
}

// Pairs for a two-input model: the first and second samples of each pair
// are input columns gathered from one set, and the target column says
// whether the pair shares a label.
func ExampleTable() {
	digits := &datasets.Set{X: []float32{0, 1, 2, 3}, Shape: []int{1}, Labels: []int{7, 3, 7, 3}, Classes: 10}
	first, second := []int{0, 1, 0}, []int{2, 3, 1}
	same := &datasets.Set{Shape: []int{1}}
	for i := range first {
		s := float32(0)
		if digits.Labels[first[i]] == digits.Labels[second[i]] {
			s = 1
		}
		same.X = append(same.X, s)
	}
	pairs := &datasets.Table{
		Inputs:  []*datasets.Set{digits.Gather(first), digits.Gather(second)},
		Targets: []*datasets.Set{same},
	}
	if err := pairs.Validate(); err != nil {
		log.Fatal(err)
	}
	inputs, targets := pairs.Columns()
	fmt.Println(pairs.Len(), "pairs:", inputs[0].X, inputs[1].X, "same:", targets[0].X)
	// Output:
	// 3 pairs: [0 1 0] [2 3 1] same: [1 1 0]
}
