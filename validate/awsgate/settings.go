package awsgate

import (
	"fmt"
	"regexp"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// rule is the form of one setting: ok says whether a value has it,
// problem what is wrong with one that does not, and want what a good value
// looks like.
type rule struct {
	ok            func(string) bool
	problem, want string
}

func matches(re *regexp.Regexp) func(string) bool { return re.MatchString }

// The forms of the settings: ids as EC2 makes them (the old 8 hex digits,
// or 17), names and ARNs as IAM allows them, in any partition.
var (
	subnetPattern        = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	securityGroupPattern = regexp.MustCompile(`^sg-[0-9a-f]{8}([0-9a-f]{9})?$`)
	instanceTypePattern  = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
)

var (
	regionRule = rule{release.IsRegion, "not a region name",
		"one like eu-west-1"}
	amiRule = rule{release.IsImageID, "not an AMI id",
		"ami- and 8 or 17 hex digits, like ami-0123456789abcdef0"}
	subnetRule = rule{matches(subnetPattern), "not a subnet id",
		"subnet- and 8 or 17 hex digits, like subnet-0123456789abcdef0"}
	securityGroupRule = rule{matches(securityGroupPattern), "not a security group id",
		"sg- and 8 or 17 hex digits, like sg-0123456789abcdef0"}
	instanceProfileRule = rule{release.IsInstanceProfile, "not an instance profile name or ARN",
		"a name like cisecs-gate-instance, or an ARN like arn:aws:iam::123456789012:instance-profile/cisecs-gate-instance"}
	roleRule = rule{release.IsRoleARN, "not an IAM role ARN",
		"one like arn:aws:iam::123456789012:role/cisecs-probe"}
	instanceTypeRule = rule{matches(instanceTypePattern), "not an instance type",
		"one like t3.small"}
)

// CheckRegion says whether region has the form of an AWS region name: a
// *validate.SettingError (Setting "Region") if not. It does not say
// whether the region exists: awsaccount.Connect finds that out.
func CheckRegion(region string) error {
	return checkRule("Region", region, regionRule)
}

func checkRule(setting, value string, r rule) error {
	if r.ok(value) {
		return nil
	}
	return &validate.SettingError{Setting: setting, Label: setting, Value: fmt.Sprintf("%q", value), Problem: r.problem + "; want " + r.want}
}
