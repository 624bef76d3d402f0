package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/release"
)

func runScript(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cisecs script", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o       hostscript.Options
		keyFile string
		ecsCfg  = mapFlag{}
	)
	fs.Var((*listFlag)(&o.Steps), "steps", "steps to run, comma-separated (default all: "+strings.Join(hostscript.Steps, ",")+")")
	fs.Var((*listFlag)(&o.SkipSteps), "skip-steps", "steps to leave out, comma-separated")
	fs.Var((*listFlag)(&o.NetworkModes), "network-modes", "ECS network modes to open the credentials path for (default "+strings.Join(release.NetworkModes(), ",")+")")
	fs.StringVar(&o.AgentVersion, "agent-version", "", "ECS agent version to pin, e.g. 1.86.3 (default: newest)")
	fs.StringVar(&o.AgentBaseURL, "agent-base-url", "", "where ecs-init packages and signatures are fetched (default: the agent's regional S3 bucket)")
	fs.StringVar(&keyFile, "agent-key-file", "", "ASCII-armoured PGP key that signs ecs-init packages (default: the shipped Amazon ECS key)")
	fs.StringVar(&o.AgentKeyFingerprint, "agent-key-fingerprint", "", "fingerprint the signing key must have (default: the Amazon ECS key)")
	fs.StringVar(&o.Region, "region", "", "AWS region (default: asked of IMDSv2 at run time)")
	fs.BoolVar(&o.AWSVPCBlockIMDS, "awsvpc-block-imds", false, "set ECS_AWSVPC_BLOCK_IMDS=true")
	fs.Var(ecsCfg, "ecs-config", "extra ecs.config KEY=VALUE (repeatable)")
	fs.StringVar(&o.ReportPath, "report-path", "", "where the script writes its JSON report (default "+hostscript.DefaultReportPath+")")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cisecs script [flags] > cisecs.sh\n\nPrints the host script. As a standalone fix on a host that already runs\nthe agent: cisecs script --steps firewall,persist | sudo bash\n\nflags:")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cisecs script: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "cisecs script: --agent-key-file: %v\n", err)
			return 2
		}
		o.AgentKey = string(b)
	}
	o.ECSConfig = ecsCfg
	b, err := hostscript.Render(o)
	if err != nil {
		fmt.Fprintf(stderr, "cisecs script: %v\n", strings.ReplaceAll(err.Error(), "\n", "\ncisecs script: "))
		return 2
	}
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "cisecs script: %v\n", err)
		return 1
	}
	return 0
}
