package testenv_test

import (
	"os"
	"testing"

	"github.com/cisecs/cisecs/internal/testenv"
)

// TestChildLacks is TestPolicy's child: it needs a command no machine has.
func TestChildLacks(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "" {
		t.Skip("only as TestPolicy's child")
	}
	testenv.Tool(t, "no-such-tool-for-testenv", "apt-get install it")
	t.Error("Tool returned for a command that does not exist")
}
