# Amazon Linux 2, CIS Benchmark Level 1, x86_64. Its CIS firewall is
# iptables (saved in /etc/sysconfig/iptables); the host script handles it.
# product_code is left out: it is not recorded here. Subscribe to the
# Marketplace product before the first build.
image "al2-cis-level1" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Amazon Linux 2 Benchmark - Level 1*"
    architecture = "x86_64"
    os           = "al2"
  }

  region = "us-east-1"

  tags = {
    Project = "cisecs"
  }

  ecs {
    network_modes     = ["awsvpc", "bridge", "host"]
    awsvpc_block_imds = true
  }
}
