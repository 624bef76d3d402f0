package publish_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release/publish"
)

// errUnexpected is a fake's answer to a call the test did not expect.
var errUnexpected = errors.New("fake: unexpected call")

// testAMI is the image the tests publish.
const testAMI = "ami-0123456789abcdef0"

// env is one test's emulated AWS: a front on kumo in a synctest bubble,
// and the clients a Publisher uses.
type env struct {
	front *awssim.Server
	ec2   *ec2.Client
	ssm   *ssm.Client
}

// inBubble runs f in a synctest bubble with a front made with o on a new
// kumo (awssim.Bubble): time there is fake.
func inBubble(t *testing.T, o awssim.Options, f func(t *testing.T, e *env)) {
	t.Helper()
	awssim.Bubble(t, o, func(t *testing.T, front *awssim.Server) {
		e := &env{front: front}
		e.ec2, _, e.ssm = front.Clients()
		f(t, e)
	})
}

// runID is the test's own run id (awssim.RunID).
func runID(t *testing.T) string { return awssim.RunID(t) }

// isNotStored says err is SSM's check having dropped (or not yet kept)
// the value.
func isNotStored(err error) bool {
	var ns *publish.NotStoredError
	return errors.As(err, &ns)
}
