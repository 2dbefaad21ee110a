"""The agency's processes that read and write the store: hospital referrals and their closed
loop (referrals, hospital_referrals, referral_states, referral_deadlines, match_review,
patient_matching), inbound messages (inbound_messages, hl7_messages), court orders, and the
refresh of due Tasks. The rules they apply, as pure functions, are in gateway/care/.
"""
