package budget

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name     string
		got, max float64
		wantOver bool
		want     string
	}{
		{name: "under", got: 0.5, max: 1, want: "ok"},
		{name: "at", got: 1, max: 1, want: "ok"},
		{name: "over", got: 1.01, max: 1, wantOver: true, want: "OVER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, over := Line("scenario/x", tt.got, tt.max, "s")
			if over != tt.wantOver || !strings.HasSuffix(line, " "+tt.want) || !strings.HasPrefix(line, "budget: scenario/x ") {
				t.Errorf("Line(%v, %v) = %q, %v; want verdict %s", tt.got, tt.max, line, over, tt.want)
			}
		})
	}
}

// TestMaxFailsOverBudget runs Max on a figure over its budget and checks
// that it fails the benchmark it is given.
func TestMaxFailsOverBudget(t *testing.T) {
	var sb strings.Builder
	old := out
	out = &sb
	defer func() { out = old }()
	for _, tt := range []struct {
		got    float64
		failed bool
	}{{2, true}, {1, false}} {
		ft := &fakeTB{}
		Max(ft, "x", tt.got, 1, "s")
		if ft.failed != tt.failed {
			t.Errorf("Max(got %v, max 1): failed = %v, want %v", tt.got, ft.failed, tt.failed)
		}
	}
	if n := strings.Count(sb.String(), "budget: x"); n != 2 {
		t.Errorf("printed %d budget lines, want 2:\n%s", n, sb.String())
	}
}

// fakeTB records whether Max failed it.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
