package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cisecs/cisecs/internal/awsaccount"
	"github.com/cisecs/cisecs/validate"
)

// settingFlags are the flags that set the settings the packages check,
// by the name their *validate.SettingErrors give (the options' fields:
// validate.Options, awsgate.Options, the publisher's inputs).
var settingFlags = map[string]string{
	"ImageID":          "--ami",
	"Region":           "--region",
	"Subnet":           "--subnet",
	"SecurityGroup":    "--security-group",
	"InstanceProfile":  "--instance-profile",
	"InstanceType":     "--instance-type",
	"RoleARN":          "--task-role-arn",
	"ExecutionRoleARN": "--execution-role-arn",
	"ProbeImage":       "--probe-image",
	"NetworkModes":     "--network-modes",
	"RunID":            "--run-id",
	"Timeout":          "--timeout",
	"CleanupTimeout":   "--cleanup-timeout",
	"Publish":          "--publish-parameter",
	"Copies":           "--publish-copies",
	"ProvisionReport":  "--provision-report",
}

// flagProblems says what is wrong with each setting err names (it joins
// *validate.SettingError), one line each, naming the flag that sets it:
// `--ami "ami-...": not an AMI id; want ...`; the errors that name no
// setting follow, each as it is.
func flagProblems(err error) []string {
	ses, rest := validate.SettingErrors(err)
	var out []string
	for _, se := range ses {
		name, ok := settingFlags[se.Setting]
		switch {
		case !ok:
			out = append(out, se.Error())
		case se.Value != "":
			out = append(out, name+" "+se.Value+": "+se.Problem)
		default:
			out = append(out, name+": "+se.Problem)
		}
	}
	if rest != nil {
		out = append(out, strings.Split(rest.Error(), "\n")...)
	}
	return out
}

// badFlags is the message for bad flags: every one, one a line.
func badFlags(lines []string) string {
	return fmt.Sprintf("%d problem(s) in the command line; nothing was done:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// connect connects to AWS for region (empty: the configuration chain's)
// and proves the credentials, before anything is created; it says on
// progress who the commands will run as. Its errors name --region, or
// the credentials, and say what to do.
func connect(ctx context.Context, region string, progress io.Writer) (*awsaccount.Account, error) {
	a, err := awsaccount.Connect(ctx, region)
	var re *awsaccount.RegionError
	switch {
	case errors.As(err, &re) && !re.Configured:
		name := "--region"
		if re.Region != "" {
			name += fmt.Sprintf(" %q", re.Region)
		}
		return nil, fmt.Errorf("%s: %v; nothing was done", name, re.Err)
	case errors.As(err, &re):
		return nil, fmt.Errorf("%v; or give --region; nothing was done", err)
	case err != nil:
		return nil, fmt.Errorf("%v; nothing was done", err)
	}
	fmt.Fprintf(progress, "aws: account %s, as %s, in region %s\n", a.ID, a.CallerARN, a.Config.Region)
	return a, nil
}
