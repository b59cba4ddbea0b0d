"""Agency console: the cases placed with the agency, dispatch, transfer, caps and the pool."""
