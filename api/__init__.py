"""The Falcon API serving Zellyy and Money For Rabbit."""
