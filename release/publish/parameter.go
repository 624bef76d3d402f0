package publish

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cisecs/cisecs/validate"
)

// ParameterForm says what a parameter name a Publisher writes to looks
// like.
const ParameterForm = "letters, digits, '.', '-', '_' in a path that starts with '/' and not with /aws or /ssm, like /cisecs/al2023-cis-level1/ami-id"

// parameterPattern is SSM's form of a parameter name: a path, or one name.
var parameterPattern = regexp.MustCompile(`^(/[A-Za-z0-9_.-]+)+$|^[A-Za-z0-9_.-]+$`)

// CheckParameter says whether name can be the SSM parameter a Publisher
// writes to (SSM's form, not under the reserved /aws and /ssm): a
// *validate.SettingError if not, whose Setting is the gate's option that
// names it (validate.Options.Publish).
func CheckParameter(name string) error {
	bare := strings.ToLower(strings.TrimPrefix(name, "/"))
	switch {
	case name == "":
		return &validate.SettingError{Setting: "Publish", Label: "parameter", Problem: "required; want " + ParameterForm}
	case len(name) > 1011 || !parameterPattern.MatchString(name) || strings.HasPrefix(bare, "aws") || strings.HasPrefix(bare, "ssm"):
		return &validate.SettingError{Setting: "Publish", Label: "parameter", Value: fmt.Sprintf("%q", name), Problem: "not an SSM parameter name; want " + ParameterForm}
	}
	return nil
}
