#!/bin/sh
# Regenerates the built-in prompt set (8 kHz mono A-law WAV) from text with espeak-ng and sox.
# Run by hand only when a prompt text changes; the WAVs are committed so builds and CI need neither tool.
# espeak-ng voice data is GPL-3.0 software output; the generated audio carries no licence restriction.
set -eu
cd "$(dirname "$0")/wav"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
gen() { # name text
	espeak-ng -v en-us -s 165 -a 140 -w "$tmp" "$2"
	sox "$tmp" -r 8000 -c 1 -e a-law -b 8 "$1.wav" norm -3 silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse
}
gen unavailable "The person you are calling is not available. Please leave a message after the tone."
gen busy "The person you are calling is busy. Please leave a message after the tone."
gen is-unavailable "is not available. Please leave a message after the tone."
gen is-busy "is busy. Please leave a message after the tone."
gen mailbox-full "This mailbox is full and cannot take messages. Goodbye."
gen message-saved "Your message has been saved. Goodbye."
gen enter-mailbox "Please enter your mailbox number, then press pound."
gen enter-pin "Please enter your PIN, then press pound."
gen bad-pin "That PIN is not correct."
gen locked "This mailbox is locked. Please try again later. Goodbye."
gen you-have "You have"
gen new-messages "new messages,"
gen saved-messages "saved messages."
gen main-menu "Press 1 for new messages, 2 for saved messages, 0 for mailbox options, star for help, or pound to hang up."
gen help "During a message, press 4 for the previous message, 5 to repeat, 6 for the next, 7 to delete, 9 to save, or pound for the main menu."
gen message "Message"
gen message-menu "Press 4 for previous, 5 to repeat, 6 for next, 7 to delete, 9 to save, or pound for the main menu."
gen no-messages "There are no messages in this folder."
gen no-more "There are no more messages."
gen first-message "This is the first message."
gen deleted "Message deleted."
gen saved "Message saved."
gen options-menu "Press 1 to record your unavailable greeting, 2 for your busy greeting, 3 for your name, 4 for a temporary greeting, 5 to change your PIN, or star to go back."
gen record-greeting "Record your greeting after the tone, then press pound."
gen greeting-saved "Your greeting has been saved."
gen new-pin "Enter your new PIN, then press pound."
gen confirm-pin "Enter the new PIN again, then press pound."
gen pin-mismatch "The PINs did not match."
gen pin-invalid "A PIN must have 4 to 10 digits."
gen pin-changed "Your PIN has been changed."
gen invalid "That is not a valid choice."
gen goodbye "Goodbye."
gen not-found "That mailbox does not exist."
for d in 0 1 2 3 4 5 6 7 8 9; do gen "digit-$d" "$d"; done
