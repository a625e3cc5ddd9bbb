"""The dice roller: asks the die service for a die's specification, then rolls it."""
