package graph

const (
	// Zeros fills a tensor with 0: batch normalisation's running mean.
	Zeros Init = HeUniform + 1 + iota
	// Ones fills a tensor with 1: batch normalisation's scale and running
	// variance.
	Ones
)

// State returns the model's state tensors (ParamSpec.State), in declaration
// order: values its layers update as they train, such as batch
// normalisation's running statistics, which no optimizer updates; a
// Trainer's checkpoints save them with the parameters. A state tensor of a
// model called twice appears once.
func (m *Model) State() []*Param {
	var st []*Param
	for _, p := range m.params {
		if p.Spec.State {
			st = append(st, p)
		}
	}
	return st
}
