# Amazon Linux 2023, CIS Benchmark Level 1, x86_64: the ECS host that
# replaces the ECS-optimized AMI. "cisecs generate" renders it into
# dist/al2023-cis-level1/al2023-cis-level1.pkr.hcl.
#
# Everything left out has a safe default: an encrypted 30 GiB gp3 root
# volume (AWS managed key), IMDSv2 required on the build instance and on
# the AMI, SSM Session Manager instead of inbound SSH, no sharing, and
# ssm_parameter = "/cisecs/al2023-cis-level1/ami-id".
image "al2023-cis-level1" {
  # The newest AMI matching every filter. The CIS Hardened Images are
  # AWS Marketplace products: subscribe to the product once per account
  # before the first build. product_code would pin the exact product; it is
  # left out because the code is not recorded here (look it up with
  # "aws ec2 describe-images" on the AMI you subscribed to; never guess it).
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Amazon Linux 2023 Benchmark - Level 1*"
    architecture = "x86_64"
    os           = "al2023"
  }

  region        = "us-east-1"
  instance_type = "t3.medium"

  # More settings, each with an example ("go doc ./images" lists them all):
  #   copy_regions = ["eu-west-1"]
  #   volume {
  #     size_gb    = 50
  #     kms_key_id = "arn:aws:kms:us-east-1:111122223333:key/..."
  #   }
  #   share {
  #     accounts = ["111122223333"] # needs volume.kms_key_id
  #   }
  #   ssm_parameter = "/platform/ecs/ami-id"

  tags = {
    Project = "cisecs"
  }

  # The ECS agent and the credentials path through the CIS firewall; see
  # "cisecs script -h" for what each option does on the host.
  ecs {
    network_modes     = ["awsvpc", "bridge", "host"]
    awsvpc_block_imds = true
    config = {
      ECS_ENABLE_CONTAINER_METADATA = "true"
    }
  }
}
