"""One module per dataset, each building a DatasetSpec (see base.py for the contract)."""
