"""The frontend: a page to roll dice, forwarding each roll to the dice roller."""
