// Package awsaccount connects to AWS as the default configuration chain
// says, and proves the credentials before anything is created: the one
// connection of the gate's backend, its publisher and the janitors.
package awsaccount

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/release"
)

// badRegion says what is wrong with a region name of the wrong form.
const badRegion = "not a region name; want one like eu-west-1"

// Account is the AWS account the gate works in, as the default
// configuration chain reaches it: an SDK configuration whose region is
// well formed and whose credentials STS has accepted. Connect makes one;
// the clients of a Backend, a Publisher and a Janitor are built from it.
type Account struct {
	// Config builds the clients.
	Config aws.Config
	// ID is the account's id; CallerARN is who the credentials are for.
	ID, CallerARN string
}

// ConnectTimeout bounds Connect's call to STS.
const ConnectTimeout = time.Minute

// credentialsHelp says how to give the gate credentials.
const credentialsHelp = `set AWS_PROFILE to a configured profile (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run "aws configure" ("aws sso login" for an SSO profile)`

// Connect loads the default configuration chain (environment, shared
// config and credentials files, SSO, AWS_ENDPOINT_URL*) for region (empty:
// the chain's), checks the region's form, and asks STS who the credentials
// are for (GetCallerIdentity). It creates nothing. A *RegionError says
// that the region is missing, malformed or out of reach; a
// *CredentialsError that there are no credentials, or that AWS refused
// them.
func Connect(ctx context.Context, region string) (*Account, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		if !release.IsRegion(region) {
			return nil, &RegionError{Region: region, Err: errors.New(badRegion)}
		}
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &CredentialsError{Err: fmt.Errorf("load the AWS configuration: %w", err)}
	}
	switch {
	case cfg.Region == "":
		return nil, &RegionError{Err: errors.New("none given, and none configured (AWS_REGION, or the profile's region); want one like eu-west-1")}
	case region == "" && !release.IsRegion(cfg.Region):
		return nil, &RegionError{Region: cfg.Region, Configured: true, Err: errors.New(badRegion)}
	}
	return connect(ctx, cfg, sts.NewFromConfig(cfg), region == "")
}

// CallerAPI is the part of STS Connect uses: who the credentials are for.
type CallerAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var _ CallerAPI = (*sts.Client)(nil)

// refusals are the codes of AWS's answers that refuse the credentials.
var refusals = map[string]bool{
	"InvalidClientTokenId":        true, // unknown access key, or a region not enabled
	"SignatureDoesNotMatch":       true, // wrong secret key
	"IncompleteSignature":         true,
	"MissingAuthenticationToken":  true, // not signed
	"ExpiredToken":                true, // expired session
	"ExpiredTokenException":       true,
	"UnrecognizedClientException": true,
	"InvalidAccessKeyId":          true,
	"AuthFailure":                 true,
	"AccessDenied":                true,
}

// connect proves cfg's credentials (the default chain's: never nil) with
// c; configured says cfg's region came from the configuration chain.
func connect(ctx context.Context, cfg aws.Config, c CallerAPI, configured bool) (*Account, error) {
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("find AWS credentials: %w", context.Cause(ctx))
		}
		return nil, &CredentialsError{Err: fmt.Errorf("none found: %w", err)}
	}
	stsCtx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	out, err := c.GetCallerIdentity(stsCtx, &sts.GetCallerIdentityInput{})
	var api smithy.APIError
	switch {
	case err == nil:
		return &Account{Config: cfg, ID: aws.ToString(out.Account), CallerARN: aws.ToString(out.Arn)}, nil
	case errors.As(err, &api) && refusals[api.ErrorCode()]:
		return nil, &CredentialsError{Refused: true, Region: cfg.Region, Err: err}
	case errors.As(err, &api):
		return nil, fmt.Errorf("check the AWS credentials in region %q: %w", cfg.Region, err)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("check the AWS credentials in region %q: %w", cfg.Region, context.Cause(ctx))
	}
	return nil, &RegionError{Region: cfg.Region, Configured: configured, Unreachable: true,
		Err: fmt.Errorf("cannot reach AWS STS there (%w); want a region that exists, like eu-west-1, and a network that reaches it", err)}
}

// RegionError says what is wrong with the region: none, malformed, or
// out of reach.
type RegionError struct {
	// Region is the region; empty when none was given or configured.
	Region string
	// Configured says the region came from the configuration chain
	// (AWS_REGION, the profile), not from the caller.
	Configured bool
	// Unreachable says the region is well formed but STS could not be
	// reached in it: no such region, or no network to it.
	Unreachable bool
	// Err says what is wrong, and what a good region looks like.
	Err error
}

func (e *RegionError) Error() string {
	switch {
	case e.Region == "":
		return "region: " + e.Err.Error()
	case e.Configured:
		return fmt.Sprintf("region %q (from AWS_REGION or the profile): %v", e.Region, e.Err)
	}
	return fmt.Sprintf("region %q: %v", e.Region, e.Err)
}

func (e *RegionError) Unwrap() error { return e.Err }

// CredentialsError says that the gate has no AWS credentials to use: none
// were found, or AWS refused them.
type CredentialsError struct {
	// Refused says AWS answered and refused them (an unknown or deleted
	// access key, a wrong secret, an expired session, a region not enabled
	// in the account); false says none were found.
	Refused bool
	// Region is where they were refused.
	Region string
	// Err is the SDK's account of it.
	Err error
}

func (e *CredentialsError) Error() string {
	if e.Refused {
		return fmt.Sprintf("AWS credentials: refused in region %q (%v): they are wrong or expired, or the region is not enabled in the account; %s", e.Region, e.Err, credentialsHelp)
	}
	return fmt.Sprintf("AWS credentials: %v; %s", e.Err, credentialsHelp)
}

func (e *CredentialsError) Unwrap() error { return e.Err }
