# fish completion for mq: commands, options, backends, formats, and the queue
# names of the config file (asked of `mq config --names` at completion time).

set -l mq_commands send receive peek count listen clear info config complete abandon renew dead-letter

function __mq_queues
    set -l tokens (commandline -opc)
    set -l config
    if set -l i (contains -i -- --config $tokens)
        set config --config $tokens[(math $i + 1)]
    end
    mq $config config --names 2>/dev/null
    printf '%s\tqueue URI\n' memory:// mqtt:// mqtts:// kafka://
end

# True when the command on the line is one of $argv.
function __mq_using
    set -l tokens (commandline -opc)
    for token in $tokens[2..-1]
        if contains -- $token send receive peek count listen clear info config complete abandon renew dead-letter
            contains -- $token $argv
            return
        end
    end
    return 1
end

function __mq_after_exec
    contains -- --exec (commandline -opc)
end

# After --exec: whatever the command there completes to.
function __mq_exec_completions
    set -l tokens (commandline -opc)
    set -l i (contains -i -- --exec $tokens)
    set -l rest $tokens[(math $i + 1)..-1] (commandline -ct)
    complete -C (string join ' ' -- (string escape -- $rest))
end

complete -c mq -f

# Commands.
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a send -d 'Send messages; exits 0 once every one is acknowledged'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a receive -d 'Receive and remove up to N messages'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a peek -d 'Print up to N waiting messages without removing them'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a count -d 'Print how many messages are waiting'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a listen -d 'Stream messages, or run a command for each'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a clear -d 'Remove all waiting messages'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a info -d 'Show the configuration and what the backend supports'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a config -d 'List the named queues of the config file'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a complete -d 'Remove locked messages for good'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a abandon -d 'Give locked messages back to the queue'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a renew -d 'Extend the lock of locked messages'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -a dead-letter -d 'Move locked messages to the dead-letter queue'

# Queue options: before or after the command name.
complete -c mq -n "not __mq_after_exec" -s h -l help -d 'Print help and exit'
complete -c mq -n "not __fish_seen_subcommand_from $mq_commands" -l version -d 'Print the versions of mq, librdkafka and Paho'
complete -c mq -n "not __mq_after_exec" -s q -l queue -x -a '(__mq_queues)' -d 'Queue URI or config entry name'
complete -c mq -n "not __mq_after_exec" -l config -r -F -d 'Config file'
complete -c mq -n "not __mq_after_exec" -l backend -x -a 'memory mqtt kafka' -d Backend
complete -c mq -n "not __mq_after_exec" -s t -l topic -x -d 'Topic (queue name); MQTT filters may hold + and #'
complete -c mq -n "not __mq_after_exec" -l host -x -a '(__fish_print_hostnames)' -d 'Broker host'
complete -c mq -n "not __mq_after_exec" -l port -x -d 'Broker port'
complete -c mq -n "not __mq_after_exec" -l username -x -d 'User name'
complete -c mq -n "not __mq_after_exec" -l password-file -r -F -d 'File whose first line is the password'
complete -c mq -n "not __mq_after_exec" -l group -x -d 'Kafka consumer group'
complete -c mq -n "not __mq_after_exec; and not __mq_using send" -l qos -x -a '0 1 2' -d 'MQTT quality of service'
complete -c mq -n "not __mq_after_exec" -l client-id -x -d 'MQTT client id (a persistent session)'
complete -c mq -n "not __mq_after_exec" -l connect-timeout -x -d 'How long to wait for a connection'
complete -c mq -n "not __mq_after_exec" -l cafile -r -F -d 'CA certificates to verify the broker with'
complete -c mq -n "not __mq_after_exec" -l cert -r -F -d 'Client certificate (TLS)'
complete -c mq -n "not __mq_after_exec; and not __mq_using send" -l key -r -F -d 'Client private key (TLS)'
complete -c mq -n "not __mq_after_exec" -l tls-key -r -F -d 'Client private key (TLS)'
complete -c mq -n "not __mq_after_exec" -l insecure -d "Do not verify the broker's certificate"
complete -c mq -n "not __mq_after_exec" -l set -x -a 'backend= topic= group_id= from_beginning= connection.host= connection.port= connection.protocol= credential.username= credential.password_file= options.qos= options.retain= options.serialize_envelope= options.client_id= options.clean_session= options.protocol_version= options.connect_timeout= options.reconnect_timeout= options.keepalive_timeout= options.cafile= options.cert= options.key= options.insecure= options.max_inflight= options.acks= options.log_level= options.request_timeout= options.session_timeout= options.store_dir= options.dead_letter_queue= kafka.' -d 'Any configuration key'
complete -c mq -n "not __mq_after_exec" -s v -l verbose -d 'Narrate connection steps and timings on stderr'

# send
complete -c mq -n '__mq_using send' -s f -l file -r -F -d 'Send the file (with -l: each line); - is stdin'
complete -c mq -n '__mq_using send' -s l -l lines -d 'Each line is a message'
complete -c mq -n '__mq_using send' -s d -l delimiter -x -d 'Split records on C'
complete -c mq -n '__mq_using send' -s 0 -d 'Split records on NUL'
complete -c mq -n '__mq_using send' -s e -l envelopes -d 'Each line is a JSON envelope'
complete -c mq -n '__mq_using send' -l type -x -d 'message_type of every message'
complete -c mq -n '__mq_using send' -l correlation-id -x -d 'correlation_id of every message'
complete -c mq -n '__mq_using send' -l message-id -x -d 'message_id (default: a new one per message)'
complete -c mq -n '__mq_using send' -l key -x -d 'Record key (Kafka)'
complete -c mq -n '__mq_using send' -s H -l header -x -d 'Header NAME=VALUE'
complete -c mq -n '__mq_using send' -l qos -x -a '0 1 2' -d 'MQTT QoS of these messages'
complete -c mq -n '__mq_using send' -l retain -d 'MQTT: the broker keeps the last message'
complete -c mq -n '__mq_using send' -l partition -x -d 'Kafka partition'
complete -c mq -n '__mq_using send' -l print -d 'Print each acknowledged message'

# receive, peek, listen: counts and output
complete -c mq -n '__mq_using receive peek listen; and not __mq_after_exec' -s n -l count -x -d 'How many messages at most'
complete -c mq -n '__mq_using receive' -s w -l wait -x -d 'How long to wait for the first message'
complete -c mq -n '__mq_using receive' -l lock -x -d 'Leave the messages locked for DURATION'
complete -c mq -n '__mq_using receive peek listen; and not __mq_after_exec' -l format -x -a "json\t'One JSON envelope per line' pip\t'The pip-services serialized envelope' payload\t'Only the message bytes' \"'{topic} {message}'\"\tTemplate \"'{topic} {partition}:{offset} {message}'\"\tTemplate" -d 'Output format or template'
complete -c mq -n '__mq_using receive peek listen; and not __mq_after_exec' -l pretty -d 'Indent (and colour on a terminal) the JSON'
complete -c mq -n '__mq_using receive peek listen; and not __mq_after_exec' -s d -l delimiter -x -d 'What follows each payload or template'
complete -c mq -n '__mq_using receive peek listen; and not __mq_after_exec' -s 0 -d 'NUL after each payload or template'
complete -c mq -n '__mq_using send receive' -l progress -d 'Show a live count and rate on stderr'
complete -c mq -n '__mq_using send receive' -l no-progress -d 'Never show progress'

# listen --exec
complete -c mq -n '__mq_using listen; and not __mq_after_exec' -l exec -d 'Run CMD ARGS... once per message'
complete -c mq -n '__mq_using listen; and not __mq_after_exec' -l max-attempts -x -d 'Deliveries before a failing message is dead-lettered'
complete -c mq -n '__mq_using listen; and not __mq_after_exec' -l dead-letter -x -a '(__mq_queues)' -d 'Where failed messages go'
complete -c mq -n '__mq_using listen; and not __mq_after_exec' -l concurrency -x -d 'Run up to K commands at once'
complete -c mq -n '__mq_using listen; and not __mq_after_exec' -l lock -x -d 'Lock each message for DURATION while CMD runs'
complete -c mq -n '__mq_after_exec' -x -a '(__mq_exec_completions)'

# info, config, renew
complete -c mq -n '__mq_using info config' -l json -d 'Print it as JSON'
complete -c mq -n '__mq_using config' -l names -d 'Print only the names of the queues'
complete -c mq -n '__mq_using config; and not __fish_seen_subcommand_from path' -a path -d 'Print which config file is read'
complete -c mq -n '__mq_using renew' -l lock -x -d 'The new lock duration'
