package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// ParseCopies reads the image's copies in other regions (Options.Copies)
// from list: REGION=AMI pairs, comma-separated, as the build's
// copy_regions made them; none in home, the gate's own region (its AMI is
// the one under test), and no region twice. The error joins one
// *validate.SettingError (Setting "Copies") per bad pair.
func ParseCopies(list, home string) (map[string]string, error) {
	copies := map[string]string{}
	var errs []error
	bad := func(problem string) {
		errs = append(errs, &validate.SettingError{Setting: "Copies", Label: "copies", Problem: problem})
	}
	for _, pair := range strings.Split(list, ",") {
		region, image, ok := strings.Cut(strings.TrimSpace(pair), "=")
		switch {
		case !ok || region == "" || image == "":
			bad(fmt.Sprintf("%q is not REGION=AMI; want one like eu-west-1=ami-0123456789abcdef0", pair))
		case !release.IsRegion(region):
			bad(fmt.Sprintf("%q is not a region name; want one like eu-west-1", region))
		case !release.IsImageID(image):
			bad(fmt.Sprintf("%q (in %s) is not an AMI id; want one like ami-0123456789abcdef0", image, region))
		case copies[region] != "":
			bad(fmt.Sprintf("region %s is listed twice", region))
		case region == home:
			bad(fmt.Sprintf("%s is the gate's own region: its AMI is the one under test", region))
		default:
			copies[region] = image
		}
	}
	return copies, errors.Join(errs...)
}

// Provenance is what the build's provision report gives the released
// image's tags (Options.ProvisionReportSHA256, Options.ECSAgentVersion).
type Provenance struct {
	// ReportSHA256 is the report file's SHA-256, hex-encoded.
	ReportSHA256 string
	// ECSAgentVersion is the ECS agent the build installed, as the
	// report's ecs_agent.version says it, the package release dropped
	// (1.86.3-1 is 1.86.3); empty in a report written before it said so.
	ECSAgentVersion string
}

// ReadReport reads the provisioner's report of the build at path (JSON,
// hostscript.ReportSchema) and returns its provenance. Its errors are
// *validate.SettingErrors (Setting "ProvisionReport") naming the file.
func ReadReport(path string) (Provenance, error) {
	bad := func(err error) error {
		return &validate.SettingError{Setting: "ProvisionReport", Label: "provision report", Value: fmt.Sprintf("%q", path), Problem: err.Error()}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Provenance{}, bad(err)
	}
	r, err := hostscript.ParseReport(b)
	if err != nil {
		return Provenance{}, bad(err)
	}
	sum := sha256.Sum256(b)
	version, _, _ := strings.Cut(r.ECSAgent.Version, "-")
	return Provenance{ReportSHA256: hex.EncodeToString(sum[:]), ECSAgentVersion: version}, nil
}
