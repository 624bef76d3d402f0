package awssim_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/internal/awssim"
)

// front starts kumo and a front on it, for the rest of t; kumoECS is a
// client straight to kumo, past the front.
func front(t *testing.T, o awssim.Options) (s *awssim.Server, kumoECS *ecs.Client) {
	t.Helper()
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	o.Kumo = k.URL
	s, err := awssim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, ecs.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(k.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: awssim.TestKey, SecretAccessKey: awssim.TestSecret}, nil
		}),
	})
}

// TestCallerIdentity: STS GetCallerIdentity, signed, names the emulated
// account, as AWS names the caller's.
func TestCallerIdentity(t *testing.T) {
	s, _ := front(t, awssim.Options{})
	out, err := sts.NewFromConfig(s.Config()).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(out.Account) != "000000000000" || aws.ToString(out.Arn) != "arn:aws:iam::000000000000:root" {
		t.Errorf("GetCallerIdentity: account %q, arn %q; want the emulated account's root", aws.ToString(out.Account), aws.ToString(out.Arn))
	}
}

// TestRefusedCredentials: as AWS does, the front refuses a request that is
// not signed, and, told to, every request, each service with its own code;
// a refused request changes nothing.
func TestRefusedCredentials(t *testing.T) {
	tests := []struct {
		name    string
		invalid bool // Options.InvalidCredentials
		signed  bool
		// want are the codes of STS, EC2, ECS and SSM.
		want [4]string
	}{
		{"not signed", false, false, [4]string{"MissingAuthenticationToken", "MissingAuthenticationToken", "MissingAuthenticationTokenException", "MissingAuthenticationTokenException"}},
		{"invalid credentials", true, true, [4]string{"InvalidClientTokenId", "AuthFailure", "UnrecognizedClientException", "UnrecognizedClientException"}},
		{"invalid credentials, not signed", true, false, [4]string{"MissingAuthenticationToken", "MissingAuthenticationToken", "MissingAuthenticationTokenException", "MissingAuthenticationTokenException"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, kumoECS := front(t, awssim.Options{InvalidCredentials: tt.invalid})
			cfg := s.Config()
			if !tt.signed {
				cfg.Credentials = aws.AnonymousCredentials{}
			}
			cluster := "awssim-refused-" + map[bool]string{true: "invalid", false: "unsigned"}[tt.invalid]
			_, stsErr := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			_, ec2Err := ec2.NewFromConfig(cfg).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
			_, ecsErr := ecs.NewFromConfig(cfg).CreateCluster(t.Context(), &ecs.CreateClusterInput{ClusterName: aws.String(cluster)})
			_, ssmErr := ssm.NewFromConfig(cfg).GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/x")})
			for i, err := range []error{stsErr, ec2Err, ecsErr, ssmErr} {
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != tt.want[i] {
					t.Errorf("call %d: %v; want an answer %s", i, err, tt.want[i])
				}
			}
			out, err := kumoECS.DescribeClusters(t.Context(), &ecs.DescribeClustersInput{Clusters: []string{cluster}})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range out.Clusters {
				if aws.ToString(c.Status) == "ACTIVE" {
					t.Errorf("the refused CreateCluster created %s", aws.ToString(c.ClusterArn))
				}
			}
		})
	}
}
