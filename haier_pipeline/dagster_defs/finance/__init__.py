"""The finance domain: the payer account balance and whether it covers pushed orders."""
