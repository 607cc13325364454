-- status: the waiting room as its waiting buyers see it.
--   ARGV[1..] holder ids
-- Returns {'ok', now, {on, open_at, rate, cap, admitted, active, waiting},
-- {state, value, state, value, ...}} with place_of's state and value per
-- holder in ARGV order; `admitted`: admissions ever made, `active`: live
-- admissions now, `waiting`: the queue and the pre-queue. The holders asked
-- about are connected to the instance asking: each is seen now (presence).
local sale = redis.call('HMGET', sale_key, 'on', 'open_at', 'rate', 'cap', 'admitted', 'opened')
local opened = sale[6] == '1'
local places = {}
local present = {}
for i = 1, #ARGV do
  local place = place_of(ARGV[i], opened)
  if place[1] == 'waiting' or place[1] == 'before_sale' then
    present[#present + 1] = now
    present[#present + 1] = ARGV[i]
  end
  places[#places + 1] = place[1]
  places[#places + 1] = place[2]
end
if #present > 0 then redis.call('ZADD', seen_key, unpack(present)) end
local active = redis.call('ZCOUNT', adm_key, '(' .. now, '+inf')
local waiting = redis.call('ZCARD', queue_key) + redis.call('ZCARD', pre_key)
return {'ok', now, {sale[1] == '1' and 1 or 0, number(sale[2]), number(sale[3]),
                    number(sale[4]), number(sale[5]), active, waiting}, places}
