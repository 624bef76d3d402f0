package golden_test

import (
	"os"
	"testing"

	"github.com/cisecs/cisecs/internal/golden"
)

// TestChildCheck is TestFlag's child: it checks GOLDEN_RENDER against the
// golden file GOLDEN_CHILD names.
func TestChildCheck(t *testing.T) {
	path := os.Getenv("GOLDEN_CHILD")
	if path == "" {
		t.Skip("only as TestFlag's child")
	}
	golden.Check(t, path, func() ([]byte, error) { return []byte(os.Getenv("GOLDEN_RENDER")), nil })
}
