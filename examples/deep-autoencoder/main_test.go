package main

import "testing"

func TestVersusPCA(t *testing.T) {
	for _, tc := range []struct {
		ae, pca float64
		want    string
	}{
		{3.38, 13.866, "4.10× lower error than PCA"},
		{41.6, 13.866, "3.00× higher error than PCA"},
		{5, 5, "the same error as PCA"},
	} {
		if got := versusPCA(tc.ae, tc.pca); got != tc.want {
			t.Errorf("versusPCA(%v, %v) = %q, want %q", tc.ae, tc.pca, got, tc.want)
		}
	}
}
