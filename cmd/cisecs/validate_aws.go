package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cisecs/cisecs/release/publish"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// publishOptions are the publisher's options for the gate's AWS options
// ao: the run id to tag, the copies (--publish-copies) and the provision
// report's provenance (--provision-report), each only with a parameter to
// publish to. The error joins a *validate.SettingError per bad setting.
func publishOptions(ao awsgate.Options, copies, report string) (publish.Options, error) {
	po := publish.Options{RunID: ao.Gate.RunID}
	var errs []error
	onlyWithParameter := func(setting, why string) {
		errs = append(errs, &validate.SettingError{Setting: setting, Label: setting, Problem: "only with --publish-parameter (" + why + ")"})
	}
	switch {
	case copies == "":
	case ao.Gate.Publish == "":
		onlyWithParameter("Copies", "the copies are published to it")
	default:
		c, err := publish.ParseCopies(copies, ao.Region)
		po.Copies, errs = c, append(errs, err)
	}
	switch {
	case report == "":
	case ao.Gate.Publish == "":
		onlyWithParameter("ProvisionReport", "its digest is tagged on the AMI when it is published")
	default:
		p, err := publish.ReadReport(report)
		po.ProvisionReportSHA256, po.ECSAgentVersion, errs = p.ReportSHA256, p.ECSAgentVersion, append(errs, err)
	}
	return po, errors.Join(errs...)
}

// newAWSBackend connects to AWS (the credentials checked, before anything
// is created; who the gate runs as said on progress) and returns the
// backend for ao and, when the gate is to publish, the publisher for po.
func newAWSBackend(ctx context.Context, ao awsgate.Options, po publish.Options, progress io.Writer) (validate.Backend, validate.Publisher, error) {
	acct, err := connect(ctx, ao.Region, progress)
	if err != nil {
		return nil, nil, err
	}
	ao.Account, po.Account = acct, acct
	b, err := awsgate.New(ctx, ao)
	if err != nil {
		return nil, nil, fmt.Errorf("aws backend: %w", err)
	}
	if ao.Gate.Publish == "" {
		return b, nil, nil
	}
	pub, err := publish.New(ctx, po)
	if err != nil {
		return nil, nil, fmt.Errorf("aws publisher: %w", err)
	}
	return b, pub, nil
}
