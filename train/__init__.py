"""Training: one StarGAN trainer and a dataset module per dataset."""
