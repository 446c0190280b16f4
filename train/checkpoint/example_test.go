package checkpoint_test

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/retina-ml/retina/train/checkpoint"
)

func Example() {
	dir, err := os.MkdirTemp("", "checkpoint-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "epoch3.ckpt")

	meta, _ := json.Marshal(map[string]any{"epoch": 3, "step": 1200})
	err = checkpoint.Write(path, &checkpoint.File{
		Meta: meta,
		Tensors: []checkpoint.Tensor{
			{Name: "dense/w", Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}},
			{Name: "dense/b", Shape: []int{3}, F32: []float32{0, 0, 0}},
			{Name: "adam/t", Shape: []int{}, F64: []float64{1200}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	f, err := checkpoint.Read(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("meta:", string(f.Meta))
	for _, t := range f.Tensors {
		fmt.Println(t.Name, t.DType(), t.Shape)
	}
	w, _ := f.Tensor("dense/w")
	fmt.Println("dense/w:", w.F32)
	// Output:
	// meta: {"epoch":3,"step":1200}
	// dense/w float32 [2 3]
	// dense/b float32 [3]
	// adam/t float64 []
	// dense/w: [1 2 3 4 5 6]
}
