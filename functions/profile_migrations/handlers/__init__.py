"""Lambda entry points for the Step Functions pipeline; each is a few lines over logic/."""
