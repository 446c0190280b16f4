package datasets

import (
	"math"

	"github.com/pkg/errors"
)

// ChannelStats returns the mean and the (biased) standard deviation of each
// channel of s's (C, …) samples, over all samples and positions, computed in
// float64: the statistics to standardise a data set with, taken from its
// training set.
func ChannelStats(s *Set) (mean, std []float64, err error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	if len(s.Shape) == 0 || s.Len() == 0 {
		return nil, nil, errors.Errorf("datasets: ChannelStats of %d samples of shape %v", s.Len(), s.Shape)
	}
	c := s.Shape[0]
	plane := s.SampleSize() / c
	sum, sq := make([]float64, c), make([]float64, c)
	for i := range s.Len() {
		for ch := range c {
			for _, v := range s.X[(i*c+ch)*plane : (i*c+ch+1)*plane] {
				sum[ch] += float64(v)
				sq[ch] += float64(v) * float64(v)
			}
		}
	}
	n := float64(s.Len() * plane)
	mean, std = make([]float64, c), make([]float64, c)
	for ch := range c {
		mean[ch] = sum[ch] / n
		std[ch] = math.Sqrt(max(sq[ch]/n-mean[ch]*mean[ch], 0))
	}
	return mean, std, nil
}

// Standardize maps channel c of every sample of s to (x − mean[c]) /
// std[c], in place, as torchvision's Normalize: apply the training set's
// ChannelStats to the training and the test set alike. One mean and one
// deviation apply to every channel.
func (s *Set) Standardize(mean, std []float64) error {
	if len(s.Shape) == 0 {
		return errors.New("datasets: Standardize: scalar samples have no channels")
	}
	c := s.Shape[0]
	if len(mean) != len(std) || (len(mean) != 1 && len(mean) != c) {
		return errors.Errorf("datasets: Standardize: %d means and %d deviations for %d channels", len(mean), len(std), c)
	}
	for i, d := range std {
		if !(d > 0) || math.IsInf(d, 0) || math.IsNaN(mean[i]) || math.IsInf(mean[i], 0) {
			return errors.Errorf("datasets: Standardize: channel %d has mean %v and deviation %v; want finite values, deviation > 0", i, mean[i], d)
		}
	}
	plane := s.SampleSize() / c
	for i := range s.Len() {
		for ch := range c {
			k := min(ch, len(mean)-1)
			m, inv := float32(mean[k]), float32(1/std[k])
			row := s.X[(i*c+ch)*plane : (i*c+ch+1)*plane]
			for j, v := range row {
				row[j] = (v - m) * inv
			}
		}
	}
	return nil
}
