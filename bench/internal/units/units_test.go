package units

import "testing"

func TestRate(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{950, "950"}, {6100, "6.10k"}, {23456, "23.5k"}, {640e3, "640k"}, {1.72e6, "1.72M"}, {12e6, "12.0M"}} {
		if got := Rate(tc.v); got != tc.want {
			t.Errorf("Rate(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
